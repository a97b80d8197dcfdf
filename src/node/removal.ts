// How a node learns that the cluster removed it (`ringkv cluster leave`). Usually it never applies
// its own removal: the leader stops replicating to it once the change is committed. So, while it
// hears no leader of the metadata group (within the election timeout: a learner, which never
// campaigns, keeps naming a leader that went silent), it asks the other members: when the member that leads the
// metadata group, caught up with its own commit, lists neither this node among its members nor in
// the group's configuration, several times in a row, the node was removed. It then stops serving
// (its data is stale from that point) and records the fact, so that a restart refuses to serve too.
import type { Logger } from 'pino';
import type { MemberState } from '../ring/shard-table.ts';
import type { Clock, Timer } from './clock.ts';
import { METADATA_GROUP } from './ids.ts';
import type { GroupStatus } from './intents.ts';
import type { MemberInfo } from './metadata.ts';
import type { ClusterRpc, PeerStatus } from './options.ts';

/** Time between checks while no metadata leader is heard. */
export const REMOVAL_CHECK_MS = 3_000;
/** Consecutive checks that must find the node removed (a new leader may not have applied everything yet). */
const REMOVAL_STRIKES = 3;
const PEER_STATUS_TIMEOUT_MS = 2_000;

/** What the watch needs of the node (KvNode implements it). */
export interface RemovalHost {
  readonly id: string;
  readonly isClosing: boolean;
  readonly cluster: ClusterRpc;
  /** The checks' timer, and the time their Status calls' deadlines count from. */
  readonly clock: Pick<Clock, 'nowMs' | 'every' | 'cancel'>;
  readonly logger: Pick<Logger, 'debug'>;
  readonly metadata: {
    readonly clusterId: string;
    members(): readonly MemberInfo[];
    /** A member's state in this node's table (removed ones included); undefined for no member. */
    memberState(id: string): MemberState | undefined;
  };
  status(group: typeof METADATA_GROUP): GroupStatus | undefined;
}

interface Listing {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly votersOutgoing: readonly string[];
}

function listed(cs: Listing, id: string): boolean {
  return [...cs.voters, ...cs.learners, ...cs.votersOutgoing].some((v) => v === id);
}

export class RemovalWatch {
  private readonly host: RemovalHost;
  private timer: Timer | undefined;
  private checking = false;
  /** Consecutive checks that found the node removed. Invariant: 0 ≤ strikes < REMOVAL_STRIKES while running. */
  private strikes = 0;

  constructor(host: RemovalHost) {
    this.host = host;
  }

  /** Checks every REMOVAL_CHECK_MS; calls `onRemoved` once, with the reason, and stops. */
  start(onRemoved: (why: string) => void): void {
    this.timer = this.host.clock.every(REMOVAL_CHECK_MS, () => {
      if (this.checking || this.host.isClosing) return;
      this.checking = true;
      this.check()
        .then((why) => {
          if (why === undefined) return;
          this.stop();
          onRemoved(why);
        })
        .catch((e: unknown) => this.host.logger.debug({ err: (e as Error).message }, 'removal check failed'))
        .finally(() => {
          this.checking = false;
        });
    });
  }

  stop(): void {
    if (this.timer !== undefined) this.host.clock.cancel(this.timer);
    this.timer = undefined;
  }

  /** The reason the node was removed, or undefined (a member, or not known yet). */
  async check(): Promise<string | undefined> {
    const h = this.host;
    const own = h.status(METADATA_GROUP);
    if (own === undefined) return undefined;
    // An applied configuration without this node is its removal only once its own table, which a
    // leave changes before the configuration, marks it removed: a joiner that installed a snapshot of
    // the group taken before it was added applies such a configuration too, and holds no table entry
    // of its own yet. (A node removed without that mark, never a member, is found by asking below.)
    if (own.applied > 0 && !listed(own.confState, h.id) && h.metadata.memberState(h.id) === 'removed') {
      return 'it applied its own removal from the metadata group';
    }
    if (own.leaderHeard) {
      this.strikes = 0; // a leader still replicates to it
      return undefined;
    }
    const asked = h.metadata.members().filter((m) => m.nodeId !== h.id);
    const answers = await this.ask(asked.map((m) => m.clientAddr));
    let leader = answers.find((a): a is PeerStatus => a !== undefined && this.authoritative(a));
    if (leader === undefined) {
      // The metadata leader may be a member admitted after this node's table stopped advancing (it
      // was cut off, then removed): the others name it, with its address, in their answers.
      const known = new Set(asked.map((m) => m.nodeId));
      const named = namedLeaders(answers).filter((m) => m.nodeId !== h.id && !known.has(m.nodeId));
      const more = await this.ask(named.map((m) => m.clientAddr));
      leader = more.find((a): a is PeerStatus => a !== undefined && this.authoritative(a));
    }
    if (
      leader === undefined ||
      leader.members.some((m) => m.nodeId === h.id) ||
      listed(leader.metadataGroup, h.id)
    ) {
      this.strikes = 0;
      return undefined;
    }
    this.strikes++;
    if (this.strikes < REMOVAL_STRIKES) return undefined;
    return `${leader.nodeId}, the metadata leader, no longer lists it as a member`;
  }

  /** Status of each address (undefined where it did not answer in time). */
  private ask(addrs: readonly string[]): Promise<(PeerStatus | undefined)[]> {
    const h = this.host;
    return Promise.all(
      addrs.map((a) => h.cluster.status(a, h.clock.nowMs() + PEER_STATUS_TIMEOUT_MS).catch(() => undefined)),
    );
  }

  /** An answer from this cluster's metadata leader that has applied all it committed. */
  private authoritative(a: PeerStatus): boolean {
    const g = a.metadataGroup;
    return a.clusterId === this.host.metadata.clusterId && g.leader === a.nodeId && g.applied >= g.commit;
  }
}

/** The metadata leaders the answers name, with the address their member lists give (at most one per leader). */
function namedLeaders(answers: readonly (PeerStatus | undefined)[]): MemberInfo[] {
  const out = new Map<string, MemberInfo>();
  for (const a of answers) {
    const id = a?.metadataGroup.leader ?? '';
    const m = a?.members.find((x) => x.nodeId === id);
    if (m !== undefined && !out.has(id)) out.set(id, m);
  }
  return [...out.values()];
}
