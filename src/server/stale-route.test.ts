import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toGrpcError } from './errors.ts';
import { type RouteHost, refuseStaleRoute, STALE_ROUTE_KEY, StaleRouteError } from './stale-route.ts';

/** A node at epoch 7 of shard 2, holding no replica of it, that knows its voters and leader. */
function host(
  o: Partial<{ epoch: number; placed: boolean; voters: string[]; leader: string }> = {},
): RouteHost {
  return {
    shardEpoch: () => o.epoch ?? 7,
    placedHere: () => o.placed ?? false,
    replicaAddrs: () => o.voters ?? ['h:1', 'h:2', 'h:3'],
    leaderAddr: () => o.leader ?? 'h:2',
  };
}

function refusal(h: RouteHost, clientEpoch: bigint, forwarded = false): StaleRouteError | undefined {
  try {
    refuseStaleRoute(h, 2, clientEpoch, forwarded);
    return undefined;
  } catch (e) {
    if (e instanceof StaleRouteError) return e;
    throw e;
  }
}

test('a client routing by an older table, to a node without the shard, is refused with the route', () => {
  const e = refusal(host(), 5n);
  assert.ok(e !== undefined);
  assert.deepEqual(e.route, { shard: 2, epoch: 7, voters: ['h:1', 'h:2', 'h:3'] });
  assert.equal(e.leaderAddr, 'h:2');
  assert.equal(e.retrySafe, true);
  assert.equal(e.code, 'UNAVAILABLE');
  assert.match(e.message, /client's shard table is at epoch 5, the shard's is 7/);
  // No leader known here: the hint is a voter, which serves or forwards.
  assert.equal(refusal(host({ leader: '' }), 5n)?.leaderAddr, 'h:1');
});

test('served or forwarded as before: no epoch, a table as new, a forwarded call, a replica here, no voter known', () => {
  assert.equal(refusal(host(), 0n), undefined, 'a client without a table (another gRPC client)');
  assert.equal(refusal(host(), 7n), undefined, 'the same epoch');
  assert.equal(refusal(host(), 9n), undefined, 'the client knows a newer table than this node');
  assert.equal(refusal(host(), 5n, true), undefined, 'forwarded by another node');
  assert.equal(refusal(host({ placed: true }), 5n), undefined, 'a voter of the shard');
  assert.equal(refusal(host({ voters: [] }), 5n), undefined, 'nowhere better to send it');
});

test('the gRPC status carries the route in a JSON trailer (src/client/rpc.ts parseRoute reads it)', () => {
  const g = toGrpcError(refusal(host(), 5n));
  assert.equal(g.code, 14); // UNAVAILABLE
  assert.equal(g.trailers['ringkv-retry-safe'], '1');
  assert.equal(g.trailers['ringkv-leader-addr'], 'h:2');
  assert.deepEqual(JSON.parse(g.trailers[STALE_ROUTE_KEY] ?? ''), {
    shard: 2,
    epoch: 7,
    voters: ['h:1', 'h:2', 'h:3'],
  });
});
