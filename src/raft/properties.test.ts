// Whole-cluster properties: fast-check drives three RawNodes through random schedules of ticks,
// proposals, Ready processing, message delivery in any order, loss, duplication and crash-restarts
// (from what was persisted). After every step the safety properties of the Raft paper (§5.2
// Figure 3) are checked: election safety, state machine safety (committed entries agree), log
// matching, and monotonic terms and commit indexes. At the end the network is made reliable and
// the cluster must converge (a leader, the same applied entries everywhere).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseDataDriven } from './testing/datadriven.ts';
import { bytesToText } from './testing/format.ts';
import { InteractionEnv } from './testing/interaction.ts';
import { Network } from './testing/network.ts';
import { type Action, idsOf, perform } from './testing/schedule.ts';
import type { Entry } from './types.ts';
import { index } from './types.ts';

const IDS = ['1', '2', '3'] as const;
/** RAFT_PROP_SCALE=20 runs 20 times more random schedules (a longer hunt; default fits CI). */
const SCALE = Math.max(1, Number(process.env.RAFT_PROP_SCALE ?? '1'));
/**
 * Fixed fast-check seed: the same schedules on every run (determinism, and coverage guards that
 * do not flicker). Hunt with other schedules via RAFT_PROP_SEED=<n> (and RAFT_PROP_SCALE).
 */
const SEED = Number(process.env.RAFT_PROP_SEED ?? '20261126');

/** Node positions are taken modulo the number of nodes, so one generator serves 3 or 4 nodes. */
const nodeIx = fc.nat(3);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 15, arbitrary: nodeIx.map((node): Action => ({ kind: 'tick', node })) },
  { weight: 15, arbitrary: fc.constant<Action>({ kind: 'tickAll' }) },
  {
    weight: 30,
    arbitrary: fc
      .record({ lossy: fc.boolean(), salt: fc.nat(2) })
      .map((r): Action => ({ kind: 'round', ...r })),
  },
  { weight: 10, arbitrary: nodeIx.map((node): Action => ({ kind: 'ready', node })) },
  { weight: 3, arbitrary: nodeIx.map((node): Action => ({ kind: 'isolate', node })) },
  { weight: 3, arbitrary: fc.constant<Action>({ kind: 'heal' }) },
  { weight: 2, arbitrary: nodeIx.map((node): Action => ({ kind: 'mute', node })) },
  {
    weight: 10,
    arbitrary: fc
      .record({ pick: fc.nat(), duplicate: fc.boolean() })
      .map((r): Action => ({ kind: 'deliver', ...r })),
  },
  { weight: 5, arbitrary: fc.nat().map((pick): Action => ({ kind: 'drop', pick })) },
  {
    weight: 8,
    arbitrary: fc
      .record({ node: nodeIx, value: fc.nat(999), batch: fc.integer({ min: 1, max: 4 }) })
      .map((r): Action => ({ kind: 'propose', ...r })),
  },
  { weight: 2, arbitrary: nodeIx.map((node): Action => ({ kind: 'restart', node })) },
  { weight: 5, arbitrary: nodeIx.map((node): Action => ({ kind: 'read', node })) },
);

/** What the checker remembers across steps. */
interface Observations {
  leaderOfTerm: Map<number, string>;
  committedAt: Map<number, string>;
  lastTerm: Map<string, number>;
  lastCommit: Map<string, number>;
  /** Read context -> the highest commit index known anywhere when the read was issued. */
  readIssuedAt: Map<string, number>;
}

const describe = (e: Entry): string => `${e.term}/${e.type}/${bytesToText(e.data)}`;

function logOf(net: Network, id: string): Entry[] {
  const st = net.node(id).storage;
  return st.entries(st.firstIndex(), index(st.lastIndex() + 1), Number.MAX_SAFE_INTEGER);
}

function checkSafety(net: Network, obs: Observations, ctx: string): void {
  for (const id of idsOf(net)) {
    const s = net.node(id).rn.status();
    const t = s.hardState.term;
    if (s.role === 'leader') {
      const other = obs.leaderOfTerm.get(t);
      assert.ok(other === undefined || other === id, `${ctx}: two leaders in term ${t}: ${other} and ${id}`);
      obs.leaderOfTerm.set(t, id);
    }
    // Persisted term and commit never go backwards (in-memory state not yet persisted is lost
    // by a crash, legitimately); the live term is never behind the persisted one.
    const hs = net.node(id).storage.initialState().hardState;
    assert.ok(
      hs.term >= (obs.lastTerm.get(id) ?? 0),
      `${ctx}: persisted term of ${id} went down to ${hs.term}`,
    );
    assert.ok(t >= hs.term, `${ctx}: live term ${t} of ${id} behind persisted ${hs.term}`);
    obs.lastTerm.set(id, hs.term);
    const persisted = hs.commit;
    assert.ok(persisted >= (obs.lastCommit.get(id) ?? 0), `${ctx}: persisted commit of ${id} went down`);
    obs.lastCommit.set(id, persisted);
  }
  // Log matching: same index and term => identical logs up to there.
  const ids = idsOf(net);
  const logs = ids.map((id) => new Map(logOf(net, id).map((e) => [e.index as number, e])));
  for (let a = 0; a < logs.length; a++) {
    for (let b = a + 1; b < logs.length; b++) {
      const la = logs[a]!;
      const lb = logs[b]!;
      let agreeFrom = -1;
      for (const [i, e] of [...la.entries()].sort(([x], [y]) => y - x)) {
        const f = lb.get(i);
        if (agreeFrom < 0 && f !== undefined && f.term === e.term) agreeFrom = i;
        if (agreeFrom >= 0 && f !== undefined) {
          assert.equal(
            describe(f),
            describe(e),
            `${ctx}: log matching broken at ${i} between ${ids[a]} and ${ids[b]}`,
          );
        }
      }
    }
  }
}

function recordApplied(net: Network, obs: Observations, from: number, ctx: string): void {
  for (const { id, rd } of net.readies.slice(from)) {
    for (const e of rd.committedEntries) {
      const seen = obs.committedAt.get(e.index);
      assert.ok(
        seen === undefined || seen === describe(e),
        `${ctx}: ${id} applied ${describe(e)} at ${e.index}, another node ${seen}`,
      );
      obs.committedAt.set(e.index, describe(e));
    }
    // Linearizable reads (§8): a read must see every entry committed before it was issued.
    for (const r of rd.readStates) {
      const c = bytesToText(r.context);
      const floor = obs.readIssuedAt.get(c);
      assert.ok(floor !== undefined, `${ctx}: ${id} released a read nobody issued: ${c}`);
      assert.ok(
        r.index >= floor,
        `${ctx}: ${id} released read ${c} at index ${r.index} < commit ${floor} when issued`,
      );
    }
  }
}

function emptyObservations(): Observations {
  return {
    leaderOfTerm: new Map(),
    committedAt: new Map(),
    lastTerm: new Map(),
    lastCommit: new Map(),
    readIssuedAt: new Map(),
  };
}

/** Performs every action, checking the safety properties after each one; returns what was seen. */
function runObserved(net: Network, actions: readonly Action[]): Observations {
  const obs = emptyObservations();
  actions.forEach((a, k) => {
    const before = net.readies.length;
    performObserved(net, obs, a, k);
    const ctx = `step ${k} ${JSON.stringify(a)}`;
    recordApplied(net, obs, before, ctx);
    checkSafety(net, obs, ctx);
  });
  return obs;
}

/** Performs one action, noting the cluster's commit index when a read is issued. */
function performObserved(net: Network, obs: Observations, a: Action, k: number): void {
  if (a.kind !== 'read') {
    perform(net, a);
    return;
  }
  const ctx = `r${k}`;
  const known = Math.max(...idsOf(net).map((id) => net.node(id).rn.status().hardState.commit as number));
  obs.readIssuedAt.set(ctx, known);
  perform(net, { ...a, ctx });
}

test('random schedules on 3 nodes: one leader per term, committed entries agree, logs match, reads linearizable', () => {
  // Coverage of the random phase: a schedule that never elects or commits checks nothing.
  const coverage = { runs: 0, elected: 0, committedData: 0, multiTerm: 0, readsReleased: 0 };
  fc.assert(
    fc.property(
      fc.array(action, { minLength: 50, maxLength: 400 }),
      fc.nat(1000),
      fc.boolean(),
      (actions, seed, pv) => {
        // PreVote and CheckQuorum go together (as by default) or are both off (more elections).
        const config = { electionTick: 4, preVote: pv, checkQuorum: pv };
        const net = new Network({ voters: [...IDS], seed, config });
        const obs = runObserved(net, actions);
        coverage.runs++;
        if (net.readies.some((r) => r.rd.readStates.length > 0)) coverage.readsReleased++;
        if (obs.leaderOfTerm.size > 0) coverage.elected++;
        if (obs.leaderOfTerm.size > 1) coverage.multiTerm++;
        if ([...obs.committedAt.values()].some((d) => d.endsWith('/normal/') === false))
          coverage.committedData++;
        // Liveness once the network is reliable: a leader emerges and everybody applies the same.
        const before = net.readies.length;
        net.queue = [];
        net.heal();
        net.tickAll(60);
        net.node(net.leaders()[0] ?? '1').rn.tick();
        net.stabilize();
        recordApplied(net, obs, before, 'after healing');
        checkSafety(net, obs, 'after healing');
        assert.equal(net.leaders().length, 1, 'one leader after 60 reliable ticks');
        const applied = IDS.map((id) => JSON.stringify(net.node(id).appliedData()));
        assert.equal(applied[1], applied[0], 'nodes 1 and 2 applied the same');
        assert.equal(applied[2], applied[0], 'nodes 1 and 3 applied the same');
      },
    ),
    { numRuns: 200 * SCALE, seed: SEED },
  );
  const msg = JSON.stringify(coverage);
  assert.ok(coverage.elected >= coverage.runs / 2, `too few random runs elected a leader: ${msg}`);
  assert.ok(coverage.multiTerm >= coverage.runs / 20, `too few runs saw leaders in several terms: ${msg}`);
  assert.ok(coverage.committedData >= coverage.runs / 10, `too few runs committed a proposal: ${msg}`);
  assert.ok(coverage.readsReleased >= coverage.runs / 10, `too few runs released a read: ${msg}`);
});

test('lease reads (leaseBased) stay linearizable when all clocks tick together', () => {
  // The lease argument assumes bounded clock drift, so clocks move only with tickAll here (no
  // single-node ticks). Crash-restarts are kept: a restarted follower must not help elect a new
  // leader while the old one may still serve reads from its lease.
  const synchronized = action.map((a): Action => (a.kind === 'tick' ? { kind: 'tickAll' } : a));
  const coverage = { runs: 0, leaseReads: 0 };
  fc.assert(
    fc.property(fc.array(synchronized, { minLength: 50, maxLength: 400 }), fc.nat(1000), (actions, seed) => {
      const config = { electionTick: 4, readOnlyOption: 'leaseBased' as const };
      const net = new Network({ voters: [...IDS], seed, config });
      runObserved(net, actions);
      coverage.runs++;
      if (net.readies.some((r) => r.rd.readStates.length > 0)) coverage.leaseReads++;
    }),
    { numRuns: 200 * SCALE, seed: SEED },
  );
  const msg = JSON.stringify(coverage);
  assert.ok(coverage.leaseReads >= coverage.runs / 10, `too few runs released a read: ${msg}`);
});

const membershipAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 85, arbitrary: action },
  {
    weight: 8,
    arbitrary: fc
      .record({
        node: nodeIx,
        changes: fc.array(
          fc.record({
            type: fc.constantFrom('addVoter' as const, 'addLearner' as const, 'removeNode' as const),
            target: nodeIx,
          }),
          { maxLength: 3 },
        ),
        transition: fc.constantFrom('auto' as const, 'explicit' as const),
      })
      .map((r): Action => ({ kind: 'confChange', ...r })),
  },
  { weight: 5, arbitrary: nodeIx.map((node): Action => ({ kind: 'compact', node })) },
);

test('random schedules with membership changes (simple and joint) and compaction on 4 nodes keep the same safety properties', () => {
  const coverage = { runs: 0, confChanges: 0, joint: 0, snapshots: 0, converged: 0, stalled: 0 };
  fc.assert(
    fc.property(
      fc.array(membershipAction, { minLength: 50, maxLength: 400 }),
      fc.nat(1000),
      fc.boolean(),
      fc.boolean(),
      (actions, seed, pv, onDemand) => {
        const config = { electionTick: 4, preVote: pv, checkQuorum: pv };
        const net = new Network({ voters: ['1', '2', '3'], seed, config, snapshotOnDemand: onDemand });
        net.addEmptyNode('4', config, onDemand);
        const obs = emptyObservations();
        const step = (a: Action, k: number, ctx: string): void => {
          const before = net.readies.length;
          performObserved(net, obs, a, k);
          recordApplied(net, obs, before, ctx);
          checkSafety(net, obs, ctx);
        };
        actions.forEach((a, k) => {
          step(a, k, `step ${k} ${JSON.stringify(a)}`);
        });
        coverage.runs++;
        // Liveness: with a reliable network, the leader of the highest term brings every member
        // of its configuration to the same applied state.
        net.queue = [];
        net.heal();
        // Without CheckQuorum nothing stops a removed node that never learned of its removal from
        // disrupting elections with ever higher terms (§6 of the paper; etcd behaves the same), so
        // such nodes are shut down, as an operator would do: no ticks, no messages. "Removed" is
        // judged each round against the configuration applied by the most advanced node (and
        // the configurations its members still have applied).
        const shutDown = (): Set<string> => {
          if (pv) return new Set();
          const ahead = [...net.nodes.values()].sort((x, y) => y.appliedIndex - x.appliedIndex)[0]!;
          const cs = ahead.rn.status().confState;
          const membersOf = (c: typeof cs): string[] => [...c.voters, ...c.votersOutgoing, ...c.learners];
          const members = new Set<string>(membersOf(cs));
          // Still needed: a member that has not applied the removal yet may need its vote.
          for (const m of members)
            for (const x of membersOf(net.node(m).rn.status().confState)) members.add(x);
          const configured = (id: string): boolean => net.node(id).rn.status().confState.voters.length > 0;
          return new Set(idsOf(net).filter((id) => !members.has(id) && configured(id)));
        };
        for (let r = 0; r < 80; r++) {
          const down = shutDown();
          net.isolate(...down);
          const before = net.readies.length;
          for (const id of idsOf(net)) if (!down.has(id)) net.node(id).rn.tick();
          net.stabilize();
          recordApplied(net, obs, before, `healing tick ${r}`);
          checkSafety(net, obs, `healing tick ${r}`);
        }
        const leaders = net.leaders().map((id) => net.node(id).rn.status());
        const top = leaders.sort((x, y) => y.hardState.term - x.hardState.term)[0];
        if (top === undefined && !pv) {
          // Without PreVote and CheckQuorum, a member with a stale configuration can keep
          // deposing leaders (the disruptive-server problem, thesis §4.2.3, which those two
          // options solve); liveness is only required with them on. Safety was checked above.
          coverage.stalled++;
          return;
        }
        assert.ok(top !== undefined, 'a leader after 80 reliable ticks');
        const cs = top.confState;
        const want = JSON.stringify(net.node(top.id).appliedData());
        for (const m of new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners])) {
          assert.equal(
            JSON.stringify(net.node(m).appliedData()),
            want,
            `member ${m} applied the same as leader ${top.id}`,
          );
        }
        coverage.converged++;
        // Counted over the whole run, healing included (a lagging node catches up by snapshot).
        const all = net.readies.map((r) => r.rd);
        if (all.some((rd) => rd.committedEntries.some((e) => e.type === 'confChange')))
          coverage.confChanges++;
        if (all.some((rd) => rd.snapshot !== undefined)) coverage.snapshots++;
        if (
          idsOf(net).some((id) => net.node(id).confHistory.some((c) => c.confState.votersOutgoing.length > 0))
        ) {
          coverage.joint++;
        }
      },
    ),
    { numRuns: 150 * SCALE, seed: SEED },
  );
  const msg = JSON.stringify(coverage);
  assert.ok(coverage.confChanges >= coverage.runs / 5, `too few runs applied a conf change: ${msg}`);
  assert.ok(coverage.snapshots >= coverage.runs / 20, `too few runs installed a snapshot: ${msg}`);
  assert.ok(coverage.stalled <= coverage.runs / 50, `too many stalled runs without PreVote: ${msg}`);
  assert.ok(coverage.joint >= coverage.runs / 20, `too few runs went through a joint configuration: ${msg}`);
});

test('determinism: the same scenario with the same seed gives the same transcript, bit for bit', () => {
  const script = [
    'add-nodes 3 voters=(1,2,3) index=2',
    'tick-all 30',
    'propose 1 a',
    'propose 2 b',
    'tick-all 5',
    'raft-state',
  ]
    .map((c) => `${c}\n----\n\n`)
    .join('');
  const run = (): string => {
    const env = new InteractionEnv(7);
    return parseDataDriven(script, 'inline')
      .cases.map((c) => env.handle(c.cmd, c.args))
      .join('\n');
  };
  const first = run();
  assert.ok(first.includes('leader'), 'the script elects a leader');
  assert.equal(run(), first);
});
