// Determinism: a seed is a run. The same seed twice (in one process, after other seeds have run)
// gives the same trace hash and the same figures; another seed gives another run. Both with 3 nodes
// and with more nodes than R (joiners, replica moves, requests passed on to a replica).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRealSeed } from './run.ts';

test('the same seed gives the same trace hash, run after run', async () => {
  const first = await runRealSeed(11, { faultMs: 8_000 });
  const other = await runRealSeed(12, { faultMs: 8_000 });
  const again = await runRealSeed(11, { faultMs: 8_000 });
  assert.deepEqual(first.violations, []);
  assert.equal(again.traceHash, first.traceHash);
  assert.deepEqual(again.stats, first.stats);
  assert.notEqual(other.traceHash, first.traceHash);
  // The run did something worth hashing: writes acknowledged, a crash, a restart checked.
  assert.ok(first.stats.opsCompleted > 20, `${first.stats.opsCompleted} operations completed`);
  assert.ok(first.stats.messagesSent > 1000, `${first.stats.messagesSent} messages`);
});

test('with 5 nodes (R = 3, two joiners) the same seed gives the same trace hash', async () => {
  const first = await runRealSeed(11, { nodes: 5, faultMs: 8_000 });
  const other = await runRealSeed(11, { nodes: 4, faultMs: 8_000 });
  const again = await runRealSeed(11, { nodes: 5, faultMs: 8_000 });
  assert.deepEqual(first.violations, []);
  assert.equal(again.traceHash, first.traceHash);
  assert.deepEqual(again.stats, first.stats);
  assert.notEqual(other.traceHash, first.traceHash);
  assert.equal(first.nodes, 5);
  // The rebalancer moved replicas to the joiners.
  assert.ok(first.stats.moves >= 2, `${first.stats.moves} moves`);
});
