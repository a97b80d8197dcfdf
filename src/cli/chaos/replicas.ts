// After healing: do the replicas agree? Status exposes, per node and group, the applied index of
// that node's replica, but no digest of its state; so the check is in two parts:
//   1. every group's replicas reach the same applied index (polled: followers learn the commit
//      index from the next heartbeat, and a leadership moved by the balancer appends a no-op);
//   2. with the applied indexes equal and unchanged before and after, each replica's state is read
//      whole with serializable scans of its shard alone (ScanRequest.shard: served by that node's
//      replica, no consensus, never forwarded) and the replicas of each shard are compared key by
//      key, value and version (a version is the index of the write, so equal versions mean the
//      same write was applied).
// A shard lives on R of the N members, so only the members that host it are compared.

import { sleep } from '../../client/backoff.ts';
import { bytesToUtf8, RingkvClient, type StatusResponse } from '../../client/index.ts';
import type { ChaosCluster, ChaosNode } from './cluster.ts';

const POLL_MS = 500;
const SCAN_PAGE = 10_000;
const SCAN_PAGES_MAX = 1000;
const SCAN_TIMEOUT_MS = 10_000;
const DESCRIBED_MAX = 10;
const METADATA_GROUP = 0;

export interface ReplicaReport {
  readonly groups: number;
  /** Groups whose replicas never reached the same applied index, one line each. */
  readonly unsettled: readonly string[];
  readonly nodesCompared: number;
  readonly keysCompared: number;
  /** Keys on which the nodes' local states differ. */
  readonly divergentKeys: number;
  /** Up to DESCRIBED_MAX of them, one line each. */
  readonly divergence: readonly string[];
}

export function replicaMismatches(r: ReplicaReport): number {
  return r.unsettled.length + r.divergentKeys;
}

/**
 * Reads every key (all pages) through `client`; `shard`: only that shard, from the contacted node's
 * replica (with serializable, as it is there).
 */
export async function readAll(
  client: RingkvClient,
  serializable: boolean,
  shard?: number,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let continuation: Uint8Array | undefined;
  for (let page = 0; page < SCAN_PAGES_MAX; page++) {
    const r = await client.scan({
      serializable,
      limit: SCAN_PAGE,
      timeoutMs: SCAN_TIMEOUT_MS,
      ...(shard === undefined ? {} : { shard }),
      ...(continuation === undefined ? {} : { continuation }),
    });
    for (const item of r.items) out.set(bytesToUtf8(item.key), `${item.version}:${bytesToUtf8(item.value)}`);
    continuation = r.continuation;
    if (continuation === undefined) return out;
  }
  throw new Error(`more than ${SCAN_PAGES_MAX} pages of ${SCAN_PAGE} keys`);
}

/** Applied index per group per node (undefined when some member did not answer). */
async function appliedIndexes(cluster: ChaosCluster): Promise<Map<number, Map<string, bigint>> | undefined> {
  const byGroup = new Map<number, Map<string, bigint>>();
  for (const n of cluster.members) {
    const s: StatusResponse | undefined = await cluster.statusOf(n, 3000);
    if (s === undefined) return undefined;
    for (const g of s.shards) {
      let m = byGroup.get(g.shardId);
      if (m === undefined) {
        m = new Map();
        byGroup.set(g.shardId, m);
      }
      m.set(n.name, g.applied);
    }
  }
  return byGroup;
}

/** Groups whose replicas (the members that host them) are not at one applied index, one line each. */
function unsettledGroups(byGroup: Map<number, Map<string, bigint>>): string[] {
  const out: string[] = [];
  for (const [group, m] of [...byGroup].sort((a, b) => a[0] - b[0])) {
    const values = [...m.values()];
    if (values.every((v) => v === values[0])) continue;
    const shown = [...m].map(([name, v]) => `${name} ${v}`).join(', ');
    out.push(`group ${group}: applied ${shown}`);
  }
  return out;
}

function sameIndexes(a: Map<number, Map<string, bigint>>, b: Map<number, Map<string, bigint>>): boolean {
  if (a.size !== b.size) return false;
  for (const [g, m] of a) {
    const o = b.get(g);
    if (o === undefined || o.size !== m.size) return false;
    for (const [n, v] of m) if (o.get(n) !== v) return false;
  }
  return true;
}

/** The state of `node`'s replica of data shard `shard`, as it is there. */
async function replicaState(node: ChaosNode, shard: number): Promise<Map<string, string>> {
  const c = new RingkvClient({ endpoints: [node.endpoint], routeToLeaders: false });
  try {
    return await readAll(c, true, shard);
  } finally {
    void c.close({ timeoutMs: 0 });
  }
}

/** Each data shard's replicas, compared key by key (the metadata group holds no keys). */
async function compareShards(
  members: readonly ChaosNode[],
  byGroup: Map<number, Map<string, bigint>>,
): Promise<Pick<ReplicaReport, 'keysCompared' | 'divergentKeys' | 'divergence'>> {
  let keysCompared = 0;
  let divergentKeys = 0;
  const divergence: string[] = [];
  for (const [group, m] of [...byGroup].sort((a, b) => a[0] - b[0])) {
    if (group === METADATA_GROUP) continue;
    const holders = members.filter((n) => m.has(n.name));
    const states = await Promise.all(holders.map((n) => replicaState(n, group)));
    const r = compareStates(holders, states);
    keysCompared += r.keysCompared;
    divergentKeys += r.divergentKeys;
    for (const d of r.divergence)
      if (divergence.length < DESCRIBED_MAX) divergence.push(`shard ${group}: ${d}`);
  }
  return { keysCompared, divergentKeys, divergence };
}

/** Waits (bounded) for the replicas to settle, then compares each shard's replicas. */
export async function checkReplicas(cluster: ChaosCluster, timeoutMs: number): Promise<ReplicaReport> {
  const deadline = Date.now() + timeoutMs;
  const members = cluster.members;
  let last: Map<number, Map<string, bigint>> | undefined;
  let lastError = '';
  while (Date.now() < deadline) {
    const before = await appliedIndexes(cluster);
    last = before ?? last;
    if (before === undefined || unsettledGroups(before).length > 0) {
      await sleep(POLL_MS);
      continue;
    }
    let compared: Awaited<ReturnType<typeof compareShards>>;
    try {
      compared = await compareShards(members, before);
    } catch (e) {
      lastError = (e as Error).message;
      await sleep(POLL_MS);
      continue;
    }
    const after = await appliedIndexes(cluster);
    if (after === undefined || !sameIndexes(before, after)) {
      await sleep(POLL_MS);
      continue;
    }
    return { groups: before.size, unsettled: [], nodesCompared: members.length, ...compared };
  }
  const unsettled =
    last === undefined
      ? [
          `no complete Status from every member within ${timeoutMs} ms${lastError === '' ? '' : ` (${lastError})`}`,
        ]
      : unsettledGroups(last);
  return {
    groups: last?.size ?? 0,
    unsettled: unsettled.length > 0 ? unsettled : [`local states could not be read in time (${lastError})`],
    nodesCompared: 0,
    keysCompared: 0,
    divergentKeys: 0,
    divergence: [],
  };
}

/** Key by key: the same value and version on every node. */
export function compareStates(
  members: readonly Pick<ChaosNode, 'name'>[],
  states: readonly Map<string, string>[],
): Pick<ReplicaReport, 'keysCompared' | 'divergentKeys' | 'divergence'> {
  const keys = new Set<string>();
  for (const s of states) for (const k of s.keys()) keys.add(k);
  let divergentKeys = 0;
  const divergence: string[] = [];
  for (const key of [...keys].sort()) {
    const values = states.map((s) => s.get(key));
    if (values.every((v) => v === values[0])) continue;
    divergentKeys++;
    if (divergence.length < DESCRIBED_MAX) {
      const shown = members.map((n, i) => `${n.name} ${values[i] ?? 'absent'}`).join(', ');
      divergence.push(`key ${JSON.stringify(key)}: ${shown} (version:value)`);
    }
  }
  return { keysCompared: keys.size, divergentKeys, divergence };
}
