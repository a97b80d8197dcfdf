import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from '../raft/types.ts';
import { nodeId } from '../raft/types.ts';
import { type BatchContext, receiveBatch } from './inbound.ts';
import { LogLimiter, silentLogger } from './log.ts';
import { message } from './testing.ts';
import { zeroStats } from './transport.ts';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const n3 = nodeId('n3');

function context(delivered: Array<[number, Message]>): BatchContext {
  return {
    localId: n2,
    clusterId: () => 'c1',
    deliver: (groupId, msg) => delivered.push([groupId, msg]),
    stats: zeroStats(),
    logger: silentLogger,
    limiter: new LogLimiter(1000),
  };
}

test('a misrouted message is dropped alone; the rest of its batch and the stream survive', () => {
  const delivered: Array<[number, Message]> = [];
  const ctx = context(delivered);
  const batch = {
    fromNodeId: 'n1',
    clusterId: 'c1',
    messages: [
      { groupId: 1, message: message({ from: n1, to: n2, type: 'heartbeat' }) },
      { groupId: 2, message: message({ from: n3, to: n2, type: 'heartbeat' }) }, // not n1's
      { groupId: 3, message: message({ from: n1, to: n3, type: 'heartbeat' }) }, // not for n2
      { groupId: 4, message: message({ from: n1, to: n2, type: 'appResp' }) },
    ],
  };
  assert.equal(receiveBatch(batch, 'n1', ctx), undefined, 'the stream must not be refused');
  assert.deepEqual(
    delivered.map(([g]) => g),
    [1, 4],
  );
  assert.equal(ctx.stats.droppedInvalid, 2);
});

test('a transferLeader forwarded by a follower on behalf of the transferee is delivered', () => {
  const delivered: Array<[number, Message]> = [];
  const batch = {
    fromNodeId: 'n1',
    clusterId: 'c1',
    messages: [{ groupId: 5, message: message({ from: n3, to: n2, type: 'transferLeader' }) }],
  };
  assert.equal(receiveBatch(batch, 'n1', context(delivered)), undefined);
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0]?.[1].from, n3);
});
