// The liveness phase that follows the fault phase: heal the network, calm it, restart every crashed
// member, stop the nemesis and the operator, then require within a bounded virtual time that
// (1) a leader is elected, (2) every client completes a probe write and a probe read, and
// (3) every live replica converges on the same applied index and byte-identical state.

import type { Cluster } from './cluster.ts';
import { hashBytes } from './hash.ts';
import { CALM_NETWORK } from './network.ts';
import { SimViolation } from './violation.ts';

/** Runs events until `until()` holds or virtual time passes `deadlineMs`; returns whether it held. */
export type RunUntil = (until: () => boolean, deadlineMs: number) => boolean;

export function healEverything(cluster: Cluster): void {
  cluster.network.heal();
  cluster.network.setConditions(CALM_NETWORK);
  for (const n of cluster.members()) {
    n.paused = false;
    if (!n.up) cluster.restart(n);
  }
  cluster.trace('liveness: network healed and calm, every member restarted, faults stopped');
}

export function checkLiveness(cluster: Cluster, runUntil: RunUntil, boundMs: number): void {
  const deadlineMs = cluster.nowMs() + boundMs;
  if (!runUntil(() => cluster.leader() !== undefined, deadlineMs)) {
    throw new SimViolation(
      'liveness',
      `no leader elected within ${boundMs} ms after healing (${describeNodes(cluster)})`,
    );
  }
  cluster.clients.startProbes();
  if (!runUntil(() => cluster.clients.probesPending === 0, deadlineMs)) {
    throw new SimViolation(
      'liveness',
      `${cluster.clients.probesPending} client(s) could not complete a write and a read within ${boundMs} ms ` +
        `after healing (${describeNodes(cluster)})`,
    );
  }
  if (!runUntil(() => converged(cluster), deadlineMs)) {
    throw new SimViolation(
      'liveness',
      `replicas did not catch up within ${boundMs} ms after healing (${describeNodes(cluster)})`,
    );
  }
  const states = new Map<string, string[]>();
  for (const n of cluster.members()) {
    const h = hashBytes(n.kv.serialize());
    states.set(h, [...(states.get(h) ?? []), n.id]);
  }
  if (states.size > 1) {
    const groups = [...states.values()].map((ids) => `[${ids.join(',')}]`).join(' vs ');
    throw new SimViolation(
      'replicaConvergence',
      `replicas at the same applied index hold different state: ${groups}`,
    );
  }
  cluster.trace(
    `liveness: ok, ${cluster.members().length} replicas agree at index ${cluster.leader()?.applied}`,
  );
}

/** Every member is up and has applied everything the leader has committed. */
function converged(cluster: Cluster): boolean {
  const leader = cluster.leader();
  if (leader === undefined) return false;
  return cluster.members().every((n) => n.up && n.applied === leader.commit && n.commit === leader.commit);
}

function describeNodes(cluster: Cluster): string {
  return cluster
    .members()
    .map((n) => `${n.id}:${n.up ? n.role : 'down'} t${n.term} c${n.commit} a${n.applied}`)
    .join(', ');
}
