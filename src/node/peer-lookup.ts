// How a node learns the raft address of a member it hears from but does not know: one admitted after
// the member list this node has applied (it restarted with an older list, or was cut off while the
// member joined). Raft messages carry no address and the transport sends only to peers whose address
// it has, so the node could not answer that member; and when that member leads the metadata group,
// the node never receives the entries that would tell it the address (found by `ringkv sim --real
// --nodes 4`, seed 67: a restarted node stayed at metadata index 20 for good). So it asks the members
// it knows (their Status lists the members with their raft addresses), one lookup per unknown peer at
// a time and at most one every LOOKUP_RETRY_MS.
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { MemberInfo } from './metadata.ts';
import type { ClusterRpc } from './options.ts';

/** Between two lookups of one unknown peer (a removed member keeps sending for a while: it is never found). */
export const LOOKUP_RETRY_MS = 5_000;
const STATUS_TIMEOUT_MS = 2_000;
/** Bound on the unknown peers remembered (ids of members; far above a cluster's size). */
const UNKNOWN_MAX = 1_024;

/** What the lookup needs of the node (KvNode implements it). */
export interface PeerLookupHost {
  readonly id: string;
  readonly isClosing: boolean;
  readonly cluster: ClusterRpc;
  readonly clock: Pick<Clock, 'nowMs'>;
  readonly logger: Pick<Logger, 'info' | 'debug'>;
  /** The client addresses to ask: the members this node knows, and the address it joined through. */
  lookupAddrs(): string[];
  /** Hands a member's raft address to the transport. */
  addPeerAddress(m: MemberInfo): void;
}

export class PeerLookup {
  private readonly host: PeerLookupHost;
  /** Peers whose address the transport has (members of the applied list, or found here). */
  private readonly known = new Set<string>();
  /** Unknown peers: when each was last looked up. */
  private readonly askedAtMs = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(host: PeerLookupHost) {
    this.host = host;
  }

  /** The transport has `id`'s address (from the member list, or a join's Status). */
  knows(id: string): void {
    this.known.add(id);
    this.askedAtMs.delete(id);
  }

  forget(id: string): void {
    this.known.delete(id);
  }

  /** A message came from `from`: look its address up when the transport does not have it. */
  heardFrom(from: string): void {
    const host = this.host;
    if (from === host.id || this.known.has(from) || this.inFlight.has(from) || host.isClosing) return;
    const now = host.clock.nowMs();
    const last = this.askedAtMs.get(from);
    if (last !== undefined && now - last < LOOKUP_RETRY_MS) return;
    if (!this.askedAtMs.has(from) && this.askedAtMs.size >= UNKNOWN_MAX) this.askedAtMs.clear();
    this.askedAtMs.set(from, now);
    this.inFlight.add(from);
    this.lookUp(from)
      .catch((err: unknown) => host.logger.debug({ peer: from, err }, 'peer address lookup failed'))
      .finally(() => this.inFlight.delete(from));
  }

  private async lookUp(from: string): Promise<void> {
    const host = this.host;
    // Bounded: one Status call per address, each with its deadline.
    for (const addr of host.lookupAddrs()) {
      if (host.isClosing || this.known.has(from)) return;
      let members: readonly MemberInfo[];
      try {
        ({ members } = await host.cluster.status(addr, host.clock.nowMs() + STATUS_TIMEOUT_MS));
      } catch {
        continue;
      }
      const m = members.find((x) => x.nodeId === from);
      if (m === undefined) continue;
      host.addPeerAddress(m);
      host.logger.info(
        { peer: from, raftAddr: m.raftAddr, from: addr },
        'learned the raft address of a member this node heard from before its member list named it',
      );
      return;
    }
  }
}
