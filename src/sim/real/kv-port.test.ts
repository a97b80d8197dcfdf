// What a simulated client learns of a failed call, from the entry node's own handler or from the
// node a request was forwarded to (its failure carried back as gRPC carries it): retry-safe only
// when the answer says nothing was done, as the `ringkv-retry-safe` trailer says to a real client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../../node/errors.ts';
import { RemoteStatusError } from '../../server/errors.ts';
import { StaleRouteError } from '../../server/stale-route.ts';
import { failureOf, overTheWire } from './kv-port.ts';

test('a refusal that did nothing is retry-safe, here or forwarded', () => {
  const noLeader = new UnavailableError('shard 2 has no leader', { retrySafe: true });
  assert.deepEqual([failureOf(noLeader).retrySafe, failureOf(overTheWire(noLeader)).retrySafe], [true, true]);
  // Forwarded, it becomes the caller's own retry-safe error again: the caller's retrySafely re-routes.
  assert.ok(overTheWire(noLeader) instanceof UnavailableError);
  // A request refused as invalid did nothing either.
  assert.equal(failureOf(overTheWire(new InvalidArgumentError('the key is empty'))).retrySafe, true);
  // The NOSPACE alarm's refusal keeps its status and its mark across the wire.
  const full = overTheWire(new ResourceExhaustedError('the disk is full'));
  assert.ok(full instanceof RemoteStatusError);
  assert.deepEqual(failureOf(full), {
    status: 'RESOURCE_EXHAUSTED',
    details: 'the disk is full',
    retrySafe: true,
  });
});

test('a write that may have been applied is not retry-safe, here or forwarded', () => {
  const maybe = new UnavailableError(
    'the write was not committed before the deadline; it may still take effect',
  );
  assert.equal(failureOf(maybe).retrySafe, false);
  const forwarded = overTheWire(maybe);
  assert.ok(forwarded instanceof RemoteStatusError);
  assert.equal(failureOf(forwarded).retrySafe, false);
  assert.equal(failureOf(forwarded).status, 'UNAVAILABLE');
  // The world's own failures of a call: its deadline passed, the connection was reset.
  assert.equal(
    failureOf(new UnavailableError('the connection to n2.client:7000 was reset')).retrySafe,
    false,
  );
});

test('an error that is no NodeError is INTERNAL (the node failed), and a stale route names where to go', () => {
  assert.equal(failureOf(new RangeError('shardCount must be an integer')).status, 'INTERNAL');
  assert.equal(failureOf(overTheWire(new RangeError('boom'))).status, 'INTERNAL');
  const stale = failureOf(
    new StaleRouteError({ shard: 2, epoch: 9, voters: ['n2.client:7000'] }, 'n2.client:7000', 5n),
  );
  assert.deepEqual(stale.staleRoute, { epoch: 9n, leaderAddr: 'n2.client:7000' });
  assert.equal(stale.retrySafe, true);
});
