// The retry policy as a table, and the backoff as a property.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { backoffDelayMs } from './backoff.ts';
import { decideAfterFailure, type Safety, shortConnectError } from './retry-policy.ts';
import { RpcFailure } from './rpc.ts';

function failure(
  code: status,
  details: string,
  trailers: Record<string, string> = {},
  aborted = false,
): RpcFailure {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  const e = Object.assign(new Error(details), { code, details, metadata }) as ServiceError;
  return new RpcFailure(e, '127.0.0.1:1', aborted);
}

/** grpc-js's text when the deadline passed while the call waited for a connection (never sent). */
const WAITING_FOR_PICK =
  'Deadline exceeded after 5.005s,name resolution: 0.001s,metadata filters: 0.001s,Waiting for LB pick';
/** … and when it passed after the call was sent to a server. */
const SENT_DEADLINE = 'Deadline exceeded after 1.002s,LB pick: 0.001s,remote_addr=127.0.0.1:50051';

const NO_CONN =
  'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ';

test('retry decisions by failure and kind of request', () => {
  const cases: [RpcFailure, Safety, string][] = [
    [failure(status.UNAVAILABLE, 'no leader'), 'read', 'retry'],
    [failure(status.UNAVAILABLE, 'no leader'), 'idempotent', 'retry'],
    [failure(status.UNAVAILABLE, 'no leader'), 'write', 'INDETERMINATE'],
    [failure(status.UNAVAILABLE, 'no leader', { 'ringkv-retry-safe': '1' }), 'write', 'retry'],
    [failure(status.UNAVAILABLE, 'no leader', { 'ringkv-retry-safe': '0' }), 'write', 'INDETERMINATE'],
    [failure(status.UNAVAILABLE, NO_CONN), 'write', 'retry'],
    [failure(status.DEADLINE_EXCEEDED, 'deadline'), 'read', 'DEADLINE_EXCEEDED'],
    [failure(status.DEADLINE_EXCEEDED, 'deadline'), 'write', 'INDETERMINATE'],
    [failure(status.CANCELLED, 'cancelled', {}, true), 'read', 'CANCELLED'],
    [failure(status.CANCELLED, 'cancelled', {}, true), 'write', 'INDETERMINATE'],
    [failure(status.INVALID_ARGUMENT, 'key is empty'), 'write', 'INVALID_ARGUMENT'],
    [failure(status.RESOURCE_EXHAUSTED, 'busy'), 'read', 'RESOURCE_EXHAUSTED'],
    [failure(status.FAILED_PRECONDITION, 'id in use'), 'idempotent', 'FAILED_PRECONDITION'],
    [failure(status.INTERNAL, 'boom'), 'write', 'INDETERMINATE'],
    [failure(status.INTERNAL, 'boom'), 'read', 'SERVER_ERROR'],
    [failure(status.UNIMPLEMENTED, 'no such method'), 'write', 'SERVER_ERROR'],
  ];
  for (const [f, safety, expected] of cases) {
    const d = decideAfterFailure(f, safety, 'op');
    const got = d.action === 'retry' ? 'retry' : d.error.code;
    assert.equal(got, expected, `${f.codeName} "${f.details}" ${safety}`);
  }
});

test('a deadline: retried when nothing was sent, or for a read whose own attempt budget ran out', () => {
  const notConnected = RpcFailure.notConnected('127.0.0.1:1', 1000);
  // [failure, safety, the attempt's budget (not the call's deadline) ran out, expected]
  const cases: [RpcFailure, Safety, boolean, string][] = [
    [failure(status.DEADLINE_EXCEEDED, WAITING_FOR_PICK), 'write', false, 'retry'],
    [failure(status.DEADLINE_EXCEEDED, WAITING_FOR_PICK), 'write', true, 'retry'],
    [notConnected, 'write', true, 'retry'],
    [notConnected, 'idempotent', true, 'retry'],
    [failure(status.DEADLINE_EXCEEDED, SENT_DEADLINE), 'read', true, 'retry'],
    [failure(status.DEADLINE_EXCEEDED, SENT_DEADLINE), 'read', false, 'DEADLINE_EXCEEDED'],
    // Sent, then silence: a write may still happen (now or when the node wakes up).
    [failure(status.DEADLINE_EXCEEDED, SENT_DEADLINE), 'write', true, 'INDETERMINATE'],
    [failure(status.DEADLINE_EXCEEDED, SENT_DEADLINE), 'write', false, 'INDETERMINATE'],
    // A membership change is never cut short once sent (the loop gives it the whole deadline).
    [failure(status.DEADLINE_EXCEEDED, SENT_DEADLINE), 'idempotent', true, 'DEADLINE_EXCEEDED'],
  ];
  for (const [f, safety, cut, expected] of cases) {
    const d = decideAfterFailure(f, safety, 'op', cut);
    const got = d.action === 'retry' ? 'retry' : d.error.code;
    assert.equal(got, expected, `${f.codeName} "${f.details}" ${safety} cut=${cut}`);
  }
  assert.equal(notConnected.notSent && notConnected.connectTimedOut, true);
  assert.equal(failure(status.DEADLINE_EXCEEDED, WAITING_FOR_PICK).notSent, true);
  assert.equal(failure(status.DEADLINE_EXCEEDED, SENT_DEADLINE).notSent, false);
});

test('a failure reads the leader hint and the not-sent case', () => {
  const f = failure(status.UNAVAILABLE, 'x', { 'ringkv-leader-addr': 'h:1' });
  assert.equal(f.leaderHint, 'h:1');
  assert.equal(f.notSent, false);
  assert.equal(failure(status.UNAVAILABLE, NO_CONN).notSent, true);
  assert.equal(shortConnectError(NO_CONN), 'connect ECONNREFUSED 127.0.0.1:1');
});

test('backoff: within [cap/2, cap], cap doubling from base to max', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 0, max: 5000 }),
      fc.integer({ min: 0, max: 64 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (baseMs, extraMs, attempt, r) => {
        const policy = { baseMs, maxMs: baseMs + extraMs };
        const cap = Math.min(policy.maxMs, baseMs * 2 ** attempt);
        const d = backoffDelayMs(policy, attempt, () => r);
        return d >= cap / 2 && d <= cap;
      },
    ),
  );
  assert.throws(() => backoffDelayMs({ baseMs: 10, maxMs: 5 }, 0, () => 0), RangeError);
});
