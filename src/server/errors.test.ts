// The one mapping from a failed request to its gRPC status: every NodeError code to the status of
// the same name (by the protocol's numbers, not by this module's own table), with the leader hint
// and the retry-safe mark as trailers; another node's status passed on as it came; anything else
// INTERNAL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as grpcJsStatus } from '@grpc/grpc-js';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NodeError,
  type NodeErrorCode,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from '../node/errors.ts';
import { RemoteStatusError, toGrpcError } from './errors.ts';

/** Every NodeErrorCode; the compiler refuses this table when a code is added and not listed. */
const EVERY_CODE: Record<NodeErrorCode, true> = {
  INVALID_ARGUMENT: true,
  UNAVAILABLE: true,
  RESOURCE_EXHAUSTED: true,
  FAILED_PRECONDITION: true,
  DEADLINE_EXCEEDED: true,
  NOT_FOUND: true,
  OUT_OF_RANGE: true,
};

describe('toGrpcError', () => {
  for (const code of Object.keys(EVERY_CODE) as NodeErrorCode[]) {
    it(`maps ${code} to gRPC ${grpcJsStatus[code]} with the leader hint and the retry-safe mark`, () => {
      const hinted = toGrpcError(
        new NodeError(code, `${code} happened`, { leaderAddr: 'h:1', retrySafe: true }),
      );
      assert.deepEqual(hinted, {
        code: grpcJsStatus[code],
        details: `${code} happened`,
        trailers: { 'ringkv-leader-addr': 'h:1', 'ringkv-retry-safe': '1' },
      });
      const bare = toGrpcError(new NodeError(code, 'no hint'));
      assert.deepEqual(bare, { code: grpcJsStatus[code], details: 'no hint', trailers: {} });
    });
  }

  it('maps the NodeError subclasses the node throws by their code', () => {
    const cases: [NodeError, number][] = [
      [new InvalidArgumentError('bad key'), grpcJsStatus.INVALID_ARGUMENT],
      [new UnavailableError('no quorum', { leaderAddr: 'n2:7000' }), grpcJsStatus.UNAVAILABLE],
      [new ResourceExhaustedError('too many'), grpcJsStatus.RESOURCE_EXHAUSTED],
      [new FailedPreconditionError('taken'), grpcJsStatus.FAILED_PRECONDITION],
      [new NotFoundError('no such member'), grpcJsStatus.NOT_FOUND],
    ];
    for (const [e, code] of cases) {
      const s = toGrpcError(e);
      assert.equal(s.code, code, e.name);
      assert.equal(s.details, e.message);
      assert.equal(s.trailers['ringkv-retry-safe'], e.retrySafe ? '1' : undefined, e.name);
    }
    assert.equal(toGrpcError(cases[1]?.[0]).trailers['ringkv-leader-addr'], 'n2:7000');
  });

  it("passes another node's status on unchanged", () => {
    const remote = new RemoteStatusError(grpcJsStatus.DEADLINE_EXCEEDED, 'Deadline exceeded', {
      'ringkv-leader-addr': 'n3:7000',
    });
    assert.deepEqual(toGrpcError(remote), {
      code: grpcJsStatus.DEADLINE_EXCEEDED,
      details: 'Deadline exceeded',
      trailers: { 'ringkv-leader-addr': 'n3:7000' },
    });
  });

  it('answers anything else INTERNAL with its message and no trailers', () => {
    assert.deepEqual(toGrpcError(new TypeError('x is undefined')), {
      code: grpcJsStatus.INTERNAL,
      details: 'internal error: x is undefined',
      trailers: {},
    });
    assert.equal(toGrpcError('a string').code, grpcJsStatus.INTERNAL);
  });
});
