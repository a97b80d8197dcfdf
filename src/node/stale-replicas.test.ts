// The rounds that confirm the shard table before stale replicas go (stale-replicas.ts): a round
// decides only the replicas noted before it began, one round runs at a time, and a failed round is
// left to the host to retry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StaleReplicas } from './stale-replicas.ts';

/** A host whose ReadIndex rounds the test answers one by one, recording what it is asked. */
function fakeHost() {
  const rounds: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const dropped: number[] = [];
  const failures: unknown[] = [];
  let closing = false;
  const host = {
    confirmTable: () =>
      new Promise<void>((resolve, reject) => {
        rounds.push({ resolve, reject });
      }),
    dropIfStale: async (shard: number) => {
      dropped.push(shard);
    },
    roundFailed: (err: unknown) => failures.push(err),
    isClosing: () => closing,
  };
  return {
    host,
    rounds,
    dropped,
    failures,
    close: () => {
      closing = true;
    },
  };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test('a round decides only the replicas noted before it began; those noted during it wait for the next', async () => {
  const h = fakeHost();
  const stale = new StaleReplicas(h.host);
  stale.note(1);
  assert.equal(h.rounds.length, 1, 'a round begins at once');
  // Shards 3 and 2 are noted while the round is under way (a move may have just created them).
  stale.note(3);
  stale.note(2);
  assert.equal(h.rounds.length, 1, 'one round at a time');
  h.rounds[0]?.resolve();
  await settle();
  assert.deepEqual(h.dropped, [1], 'the round decides what was noted before it began');
  assert.equal(h.rounds.length, 2, 'the next round begins as the last ends');
  h.rounds[1]?.resolve();
  await settle();
  assert.deepEqual(h.dropped, [1, 3, 2]);
  assert.equal(h.rounds.length, 2, 'nothing left to confirm');
  assert.equal(stale.roundUnderWay, false);
});

test('a failed round decides nothing and begins no other: the host notes the replicas again later', async () => {
  const h = fakeHost();
  const stale = new StaleReplicas(h.host);
  stale.note(1);
  stale.note(2);
  assert.equal(h.rounds.length, 1);
  h.rounds[0]?.reject(new Error('timed out confirming the shard table'));
  await settle();
  assert.deepEqual(h.dropped, []);
  assert.equal(h.failures.length, 1);
  assert.equal(h.rounds.length, 1, 'no round at once after a failure');
  // The host's retry notes it again: a new round.
  stale.note(1);
  assert.equal(h.rounds.length, 2);
  h.rounds[1]?.resolve();
  await settle();
  assert.deepEqual(h.dropped, [2, 1], 'shard 2, noted during the failed round, waited for this one');
});

test('a closing node begins no round and decides nothing more', async () => {
  const h = fakeHost();
  const stale = new StaleReplicas(h.host);
  stale.note(1);
  stale.note(2);
  h.close();
  h.rounds[0]?.resolve();
  await settle();
  assert.deepEqual(h.dropped, []);
  stale.note(3);
  assert.equal(h.rounds.length, 1);
});
