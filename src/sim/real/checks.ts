// The safety checks of the real-node world, run where the node meets the world and after every
// event:
// - at the network boundary (every message a node sends): an append acknowledgement covers only
//   entries the node's log holds (its storage holds only what a WAL sync made durable), and a vote
//   is granted only once the hard state that records it is there (or a newer term is);
// - at every restart: the node comes back with at least the term of every message the dead
//   incarnation sent (PreVote aside), and, in the term of its last granted vote, with that vote;
// - after every event: at most one leader per term and group; per incarnation, commit never
//   decreases, applied never passes it nor the node's durable log; no two replicas apply
//   different entries at one index (applied-log.ts); a leader advances its commit only to an entry
//   of its own term; with every machine up (but one that left, or whose node refuses its damaged
//   WAL: that one counts neither as a voter nor as a copy), every leader's commit index names an
//   entry durable on enough of the group's voters that every quorum of them holds it; once the
//   cluster has formed,
//   each shard's voters in the newest shard table seen hold a majority of each half of the shard's
//   newest applied configuration seen (the moves keep the table and the shards within a quorum).
import type { GroupId } from '../../node/ids.ts';
import type { GroupStatus, GroupView } from '../../node/intents.ts';
import { index, type Message } from '../../raft/types.ts';
import { type ShardTable, votersAfter } from '../../ring/shard-table.ts';
import { AppliedLog } from './applied-log.ts';
import type { Incarnation } from './node-slot.ts';
import { RealViolation } from './violation.ts';
import type { World } from './world.ts';

/**
 * The group as `inc` hosts it, or undefined when it does not (any more): a check that runs inside the
 * node's own call (a send) must never throw into it.
 */
function hostedGroup(inc: Incarnation, groupId: number): GroupView | undefined {
  try {
    return inc.kv.group(groupId);
  } catch {
    return undefined;
  }
}

/** A running incarnation and its groups' state after an event. */
interface RunningView {
  readonly inc: Incarnation;
  readonly statuses: ReadonlyMap<number, GroupStatus>;
}

/** Voter sets remembered per group for the durability check (the last few configurations). */
const GROUP_CONFIGS_MAX = 3;

/** Message types whose term is not the sender's persisted term (PreVote asks for term + 1). */
const TERMLESS: ReadonlySet<Message['type']> = new Set(['preVote', 'preVoteResp']);

export class NodeChecks {
  private readonly world: World;
  /** Leader of each (group, term) ever seen, as `group/term` → node id. */
  private readonly leaders = new Map<string, string>();
  /** The previous incarnation of each machine, until its successor has been checked against it. */
  private readonly lastDead = new Map<string, Incarnation>();
  /** Per incarnation and group, its voters as last seen and before they last changed. */
  private readonly voterHistory = new WeakMap<
    Incarnation,
    Map<number, { now: readonly string[]; before: readonly string[] }>
  >();
  /** The term of every applied index, per group: no two replicas apply different entries at one index. */
  private readonly appliedLog = new AppliedLog();
  /** Per hosted group, while its core leads: the term it leads in and its commit then. */
  private readonly leaderCommits = new WeakMap<GroupView, { term: number; commit: number }>();
  /** Per hosted group (a group dropped and hosted again is another), the last commit seen. */
  private readonly commits = new WeakMap<GroupView, number>();
  stats = { leadersElected: 0, maxTerm: 0, restartsChecked: 0, moves: 0, movesRolledBack: 0 };
  /** The members the newest table marks down (to note each change once in the trace). */
  private readonly membersDown = new Set<string>();
  /** Each move's steps seen in the newest table, as `id/step` (to note each once in the trace). */
  private readonly moveSteps = new Set<string>();
  /** Check the table's voters against the shards' configurations (from formation on: the table lags a join's voters before). */
  tableQuorum = false;
  /** The newest shard table seen: the one at the highest applied index of the metadata group. */
  private newestTable: { applied: number; table: ShardTable } | undefined;
  /** Each shard's newest applied configuration seen (at its highest applied index), by shard. */
  private readonly newestConfig = new Map<
    number,
    { applied: number; voters: readonly string[]; outgoing: readonly string[] }
  >();

  constructor(world: World) {
    this.world = world;
    world.onSend = (from, groupId, msg) => this.onSend(from, groupId, msg);
    world.onStarted = (inc) => this.onStarted(inc);
    world.afterEvent = () => this.afterEvent();
  }

  /** The machine's incarnation `inc` is dead: its successor will be checked against what it sent. */
  crashed(inc: Incarnation): void {
    this.lastDead.set(inc.machine.id, inc);
  }

  private onSend(from: Incarnation, groupId: number, msg: Message): void {
    if (!TERMLESS.has(msg.type)) {
      const before = from.sentTerm.get(groupId) ?? 0;
      if (msg.term > before) from.sentTerm.set(groupId, msg.term);
    }
    if (msg.reject || (msg.type !== 'appResp' && msg.type !== 'voteResp')) return;
    // A group the node stopped hosting in this turn (its shard dropped) still sends the turn's messages.
    const g = hostedGroup(from, groupId);
    if (g === undefined) return;
    if (msg.type === 'appResp') {
      const durable = g.storage.lastIndex();
      if (msg.index > durable) {
        this.world.fail(
          new RealViolation(
            'durability',
            `${from.machine.id} acknowledged index ${msg.index} of group ${groupId} to ${msg.to} (term ${msg.term}) with its durable log ending at ${durable}`,
          ),
        );
      }
      return;
    }
    // A newer durable term also keeps the promise: the node can never vote again in the older one.
    const hs = g.storage.initialState().hardState;
    if (hs.term < msg.term || (hs.term === msg.term && hs.vote !== msg.to)) {
      this.world.fail(
        new RealViolation(
          'durability',
          `${from.machine.id} granted its vote in group ${groupId} to ${msg.to} in term ${msg.term} with its durable hard state at term ${hs.term}, vote '${hs.vote}'`,
        ),
      );
    }
    from.granted.set(groupId, { term: msg.term, to: msg.to });
  }

  /** A restarted node, before any event reaches it, against what its previous incarnation sent. */
  private onStarted(inc: Incarnation): void {
    const dead = this.lastDead.get(inc.machine.id);
    if (dead === undefined) return;
    this.lastDead.delete(inc.machine.id);
    this.stats.restartsChecked++;
    const id = inc.machine.id;
    for (const [groupId, sent] of dead.sentTerm) {
      const st = inc.kv.status(groupId as GroupId);
      // A shard replica the node had deleted (moved away) before it died: a tombstone, never hosted again.
      if (st === undefined && dead.kv.status(groupId as GroupId) === undefined) continue;
      const term = st?.term ?? 0;
      if (term < sent) {
        this.world.fail(
          new RealViolation(
            'hardStateRegression',
            `${id} restarted with term ${term} in group ${groupId}, but its previous incarnation sent messages of term ${sent}`,
          ),
        );
        return;
      }
      const vote = dead.granted.get(groupId);
      if (vote === undefined || vote.term !== term) continue;
      const hs = hostedGroup(inc, groupId)?.storage.initialState().hardState;
      if (hs !== undefined && hs.vote !== vote.to) {
        this.world.fail(
          new RealViolation(
            'hardStateRegression',
            `${id} restarted in term ${term} of group ${groupId} with vote '${hs.vote}', but had granted it to ${vote.to}`,
          ),
        );
        return;
      }
    }
  }

  private afterEvent(): void {
    // Each running node's groups, copied once per event (a status is not cheap: it copies progress).
    const running = new Map<string, RunningView>();
    for (const m of this.world.machines) {
      const inc = m.running;
      if (inc !== undefined)
        running.set(m.id, { inc, statuses: new Map(inc.kv.statuses().map((st) => [st.id, st])) });
    }
    this.commitsDurableOnQuorum(running);
    this.tableHoldsQuorum(running);
    for (const { inc, statuses } of running.values()) {
      const m = inc.machine;
      for (const st of statuses.values()) {
        // The role and term as the driver last processed them, together (a status's term is the
        // core's, possibly newer than its role).
        const g = inc.kv.group(st.id);
        if (st.applied > st.commit) {
          this.fail(
            'commitMonotonic',
            `${m.id} applied ${st.applied} of group ${st.id} past its commit ${st.commit}`,
          );
          return;
        }
        // The storage holds only what a WAL sync made durable: nothing is applied beyond it.
        const durable = g.storage.lastIndex();
        if (st.applied > durable) {
          this.fail(
            'durability',
            `${m.id} applied ${st.applied} of group ${st.id} past its durable log, which ends at ${durable}`,
          );
          return;
        }
        const before = this.commits.get(g) ?? 0;
        if (st.commit < before) {
          this.fail(
            'commitMonotonic',
            `${m.id}'s commit of group ${st.id} went from ${before} back to ${st.commit}`,
          );
          return;
        }
        this.commits.set(g, st.commit);
        const diverged = this.appliedLog.observe(m.id, g) ?? this.commitByOwnTerm(m.id, g, st);
        if (diverged !== undefined) {
          this.world.fail(new RealViolation(diverged.property, diverged.detail));
          return;
        }
        if (st.term > this.stats.maxTerm) this.stats.maxTerm = st.term;
        if (g.role !== 'leader') continue;
        const key = `${st.id}/${g.term}`;
        const known = this.leaders.get(key);
        if (known === undefined) {
          this.leaders.set(key, m.id);
          this.stats.leadersElected++;
          this.world.note(`${m.id} leads group ${st.id} in term ${g.term}`);
        } else if (known !== m.id) {
          this.fail('electionSafety', `${known} and ${m.id} both lead group ${st.id} in term ${g.term}`);
          return;
        }
      }
    }
  }

  /**
   * A leader advances its commit index only to an entry of its own term (Raft §5.4.2): earlier
   * entries are committed with it, never by counting their replicas (the paper's Figure 8). From the
   * core's own view (its term, its commit, whether it leads: `progress`), from the second look at a
   * leadership on: the commit it had when it was elected may name an older entry.
   */
  private commitByOwnTerm(
    node: string,
    g: GroupView,
    st: GroupStatus,
  ): { property: 'commitRule'; detail: string } | undefined {
    if (st.progress === undefined) {
      this.leaderCommits.delete(g);
      return undefined;
    }
    const before = this.leaderCommits.get(g);
    this.leaderCommits.set(g, { term: st.term, commit: st.commit });
    if (before === undefined || before.term !== st.term || st.commit <= before.commit) return undefined;
    const log = g.storage;
    if (st.commit > log.lastIndex() || st.commit < log.firstIndex() - 1) return undefined;
    const t = log.term(index(st.commit));
    if (t === st.term) return undefined;
    return {
      property: 'commitRule',
      detail: `${node}, leader of group ${g.id} in term ${st.term}, advanced its commit from ${before.commit} to ${st.commit}, an entry of term ${t}`,
    };
  }

  /**
   * With every machine running: each leader's commit index names an entry that enough of the group's
   * voters (as it knows them) hold in their durable log that every quorum of them includes one
   * (compacted into a snapshot counts: only what was applied, so committed, is snapshotted): at least
   * half of them, so with an even count exactly half will do. That is what a later leader needs to
   * hold the entry. A strict majority would be too strict: an entry committed by three of five,
   * one of them the member removed next, is held by two of the four left, and every quorum of those
   * four (three) includes one of the two (`--nodes 5`, seed 731).
   */
  private commitsDurableOnQuorum(running: ReadonlyMap<string, RunningView>): void {
    // A joiner not started yet holds nothing and votes in nothing.
    // (A member that left holds nothing any group still counts.)
    if (this.world.machines.some((m) => m.launched && !m.staysDown && !running.has(m.id))) return;
    // A machine whose WAL was damaged never votes again (its node refuses to start): no quorum that
    // can still form includes it, so it counts neither as a voter nor as a copy; every quorum of the
    // others must hold the entry.
    const gone = new Set<string>(
      this.world.machines.filter((m) => m.corruptedWal !== undefined).map((m) => m.id),
    );
    for (const { inc, statuses } of running.values()) {
      for (const st of statuses.values()) {
        // A leader's (its core's: the progress is the core's own): its log is never truncated, and it
        // counts its own entries only once durable, so its storage holds what its commit names. A
        // follower's commit may name an entry it has not made durable yet, over an older one.
        if (st.progress === undefined) continue;
        const own = inc.kv.group(st.id).storage;
        const c = st.commit;
        if (c === 0 || c > own.lastIndex() || c < own.firstIndex() - 1) continue;
        const t = own.term(c);
        // The applied configuration, or the one before it: a configuration change is committed under
        // the old one and counts once applied. While joint, its outgoing half is the one before (a
        // leader elected in the joint configuration may hold a commit index from before it, and a
        // restarted node has seen no configuration before its current one). None before the first
        // configuration entry is applied (a new cluster, a joiner).
        const configs = [
          ...this.configs(inc, st.id, st.confState.voters),
          ...(st.confState.votersOutgoing.length > 0 ? [st.confState.votersOutgoing] : []),
          ...(this.groupConfigs.get(st.id) ?? []),
        ].map((voters) => (gone.size === 0 ? voters : voters.filter((v) => !gone.has(v))));
        if (configs.every((voters) => voters.length === 0)) continue;
        const holding = (voters: readonly string[]): number =>
          voters.filter((v) => {
            const other = running.get(v);
            const sto = other?.statuses.has(st.id) === true ? other.inc.kv.group(st.id).storage : undefined;
            return (
              sto !== undefined && (c < sto.firstIndex() - 1 || (c <= sto.lastIndex() && sto.term(c) === t))
            );
          }).length;
        if (configs.every((voters) => holding(voters) * 2 < voters.length)) {
          const [voters = []] = configs;
          this.world.fail(
            new RealViolation(
              'durability',
              `${inc.machine.id} commits index ${c} (term ${t}) of group ${st.id}, durable on only ${holding(voters)} of its voters ${voters.join(',')}: some quorum of them holds none`,
            ),
          );
          return;
        }
      }
    }
  }

  /**
   * Follows the newest table and each shard's newest applied configuration (applied entries are
   * committed: the highest applied index is the newest state), and, once formed, checks that the
   * table's voters of each shard are a majority of each half of its configuration: the table never
   * runs ahead of, or behind, the shard by more than a minority of voters. While the table has a
   * move of the shard in flight, the voters it began from, or those it leads to, may be that majority
   * instead: on a shard of one or two voters (a cluster formed by members joining at once) one voter
   * is a half: adding a second to a shard of one makes it two while the table still names the one,
   * and a joint step of a shard of two has halves that share one voter.
   */
  private tableHoldsQuorum(running: ReadonlyMap<string, RunningView>): void {
    for (const { inc, statuses } of running.values()) {
      for (const st of statuses.values()) {
        if (st.applied > (this.newestApplied.get(st.id) ?? -1)) {
          this.newestApplied.set(st.id, st.applied);
          this.noteGroupConfig(st.id, st.confState.voters);
        }
        if (st.id === 0) {
          if (this.newestTable === undefined || st.applied > this.newestTable.applied) {
            this.newestTable = { applied: st.applied, table: inc.kv.metadata.table };
            this.noteMoves(inc.kv.metadata.table);
            this.noteDownMembers(inc.kv.metadata.table);
          }
          continue;
        }
        const seen = this.newestConfig.get(st.id);
        if (seen === undefined || st.applied > seen.applied) {
          const cs = st.confState;
          this.newestConfig.set(st.id, {
            applied: st.applied,
            voters: cs.voters,
            outgoing: cs.votersOutgoing,
          });
        }
      }
    }
    const table = this.newestTable?.table;
    if (!this.tableQuorum || table === undefined) return;
    for (const entry of table.shards) {
      const c = this.newestConfig.get(entry.shardId);
      if (c === undefined) continue;
      const m = entry.move;
      const named = m === null ? [entry.voters] : [entry.voters, m.votersBefore, votersAfter(m)];
      for (const half of [c.voters, c.outgoing]) {
        const majority = (voters: readonly string[]): boolean =>
          half.filter((v) => voters.includes(v)).length > half.length / 2;
        if (half.length > 0 && !named.some(majority)) {
          this.world.fail(
            new RealViolation(
              'tableQuorum',
              `shard ${entry.shardId}: the table (op ${table.lastOp}) names voters ${entry.voters.join(',')}, but the shard applied (index ${c.applied}) voters ${c.voters.join(',')}${c.outgoing.length > 0 ? ` joint with ${c.outgoing.join(',')}` : ''}`,
            ),
          );
          return;
        }
      }
    }
  }

  /** Notes each member marked down, and up again, as the newest table shows it. */
  private noteDownMembers(table: ShardTable): void {
    for (const m of table.members) {
      const down = m.state === 'down';
      if (down === this.membersDown.has(m.nodeId)) continue;
      if (down) this.membersDown.add(m.nodeId);
      else this.membersDown.delete(m.nodeId);
      this.world.note(`table: member ${m.nodeId} ${m.state} (op ${table.lastOp})`);
    }
  }

  /** Notes each move's steps once, as the newest table shows them. */
  private noteMoves(table: ShardTable): void {
    for (const e of table.shards) {
      const m = e.move;
      if (m === null || this.moveSteps.has(`${m.id}/${m.step}`)) continue;
      if (!this.moveSteps.has(`${m.id}/begun`)) {
        this.moveSteps.add(`${m.id}/begun`);
        this.stats.moves++;
      }
      if (m.step === 'rollBack') this.stats.movesRolledBack++;
      this.moveSteps.add(`${m.id}/${m.step}`);
      this.world.note(
        `table: shard ${e.shardId} move ${m.id} ${m.source ?? '-'}>${m.target ?? '-'} ${m.step}`,
      );
    }
  }

  /**
   * Each group's last voter sets seen on any node (newest last, distinct, at most GROUP_CONFIGS_MAX):
   * an incarnation restarted after a change has seen no configuration before its current one, and a
   * commit index from before the change is durable on a majority of the one before.
   */
  private readonly groupConfigs = new Map<number, (readonly string[])[]>();
  /** Each group's highest applied index seen on any node (its configuration then is the newest). */
  private readonly newestApplied = new Map<number, number>();

  private noteGroupConfig(group: number, voters: readonly string[]): void {
    if (voters.length === 0) return;
    const seen = this.groupConfigs.get(group) ?? [];
    const last = seen[seen.length - 1];
    if (last !== undefined && last.join(',') === voters.join(',')) return;
    const next = [...seen.filter((v) => v.join(',') !== voters.join(',')), voters];
    this.groupConfigs.set(group, next.slice(-GROUP_CONFIGS_MAX));
  }

  /** The voters of `group` on `inc` now and, when they changed, before (the newest first). */
  private configs(inc: Incarnation, group: number, voters: readonly string[]): (readonly string[])[] {
    let byGroup = this.voterHistory.get(inc);
    if (byGroup === undefined) {
      byGroup = new Map();
      this.voterHistory.set(inc, byGroup);
    }
    const h = byGroup.get(group);
    if (h === undefined) {
      byGroup.set(group, { now: voters, before: [] });
      return [voters];
    }
    if (h.now.join(',') !== voters.join(',')) {
      h.before = h.now;
      h.now = voters;
    }
    return [h.now, h.before];
  }

  private fail(property: 'commitMonotonic' | 'electionSafety' | 'durability', detail: string): void {
    this.world.fail(new RealViolation(property, detail));
  }
}
