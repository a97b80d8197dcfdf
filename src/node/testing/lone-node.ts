// A KvNode alone, for tests that start one node on a data directory they prepared: its peer
// transport an in-memory one nobody else joins, no other node to call (a Join or a Status throws),
// a silent logger, 10 ms ticks, and neither the leader balancer nor the rebalancer running, so that
// nothing but the test changes the shard table or moves a leadership. `o` adds or overrides options.
import pino from 'pino';
import { nodeId } from '../../raft/types.ts';
import { MemoryNetwork } from '../../transport/memory-transport.ts';
import { KvNode } from '../node.ts';
import type { ClusterRpc, NodeOptions } from '../options.ts';

const NO_CLUSTER_RPC: ClusterRpc = {
  join: () => Promise.reject(new Error('a lone test node calls no other node (Join)')),
  status: () => Promise.reject(new Error('a lone test node calls no other node (Status)')),
};

export function loneNode(
  o: Pick<NodeOptions, 'nodeId' | 'raftDir' | 'bootstrap' | 'joinAddr'> & Partial<NodeOptions>,
): KvNode {
  return new KvNode({
    clientAddr: 'localhost:1',
    raftAddr: 'localhost:2',
    transport: new MemoryNetwork().createTransport(nodeId(o.nodeId)),
    cluster: NO_CLUSTER_RPC,
    logger: pino({ level: 'silent' }),
    tickMs: 10,
    balanceIntervalMs: 0,
    rebalanceIntervalMs: 0,
    ...o,
  });
}
