// Determinism is a feature: the same seed must give the same run, bit for bit (the trace hash covers
// every event), and different seeds must give different runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSeed } from './run.ts';

const STEPS = 1500;

test('the same seed gives the identical trace (hash, line count, statistics)', () => {
  for (const seed of [1, 2, 77]) {
    const a = runSeed(seed, { steps: STEPS });
    const b = runSeed(seed, { steps: STEPS });
    assert.equal(a.traceHash, b.traceHash, `seed ${seed}`);
    assert.deepEqual(a.stats, b.stats, `seed ${seed}`);
    assert.ok(a.stats.traceLines > 1000, `seed ${seed} did something (${a.stats.traceLines} trace lines)`);
  }
});

test('a kept trace hashes to the same value as an unkept one', () => {
  const kept = runSeed(5, { steps: STEPS, trace: true });
  const unkept = runSeed(5, { steps: STEPS });
  assert.equal(kept.traceHash, unkept.traceHash);
  assert.equal(kept.traceLines?.length, kept.stats.traceLines);
  assert.equal(unkept.traceLines, undefined);
});

test('different seeds give different traces', () => {
  const hashes = new Set<string>();
  for (let seed = 10; seed < 16; seed++) hashes.add(runSeed(seed, { steps: STEPS }).traceHash);
  assert.equal(hashes.size, 6);
});

test('a planted bug changes the run of the same seed', () => {
  const plain = runSeed(3, { steps: STEPS, nodes: 3 });
  const buggy = runSeed(3, { steps: STEPS, nodes: 3, bug: 'ackBeforeSync' });
  assert.notEqual(plain.traceHash, buggy.traceHash);
  assert.equal(plain.nodes, 3);
});
