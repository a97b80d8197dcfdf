// A small batch of seeds of the whole simulator: no safety, liveness or linearizability violation,
// and the runs really exercise what they claim (elections, crashes, partitions, committed writes,
// membership changes, a linearizable verdict).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDemo } from './demo.ts';
import { runSeed, type SeedResult } from './run.ts';

const SEEDS = 40;

test(`${SEEDS} seeds run without a violation and exercise faults`, () => {
  const results: SeedResult[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) results.push(runSeed(seed, { steps: 2000 }));
  const failures = results.filter((r) => r.violations.length > 0);
  assert.deepEqual(
    failures.map(
      (r) => `seed ${r.seed}: ${r.violations.map((v) => `${v.property}: ${v.detail}`).join('; ')}`,
    ),
    [],
  );
  const total = (f: (r: SeedResult) => number) => results.reduce((acc, r) => acc + f(r), 0);
  assert.ok(total((r) => r.stats.crashes) > SEEDS * 5, 'crashes happen');
  assert.ok(total((r) => r.stats.partitions) > SEEDS * 3, 'partitions happen');
  assert.ok(total((r) => r.stats.membershipChanges) > SEEDS, 'membership changes happen');
  assert.ok(total((r) => r.stats.opsIndeterminate) > 0, 'some operations end indeterminate');
  assert.ok(
    results.every((r) => r.stats.opsCompleted > 20 && r.stats.committedMax > 20),
    'every seed completes operations and commits entries',
  );
  assert.ok(new Set(results.map((r) => r.nodes)).size === 3, 'cluster sizes 3, 5 and 7 are all drawn');
  const linearizable = results.filter((r) => r.stats.lincheck === 'linearizable').length;
  assert.ok(linearizable >= SEEDS - 2, `${linearizable} of ${SEEDS} histories were checked linearizable`);
});

test('the liveness phase elects a leader and completes probes after a partitioned, crashing fault phase', () => {
  const r = runSeed(4, { steps: 600, nodes: 5, trace: true });
  assert.deepEqual(r.violations, []);
  const lines = r.traceLines ?? [];
  const healed = lines.findIndex((l) => l.includes('liveness: network healed'));
  assert.ok(healed > 0, 'the liveness phase ran');
  const after = lines.slice(healed);
  assert.ok(
    after.some((l) => /client \d+ ok put\(k\d, probe-\d\)/.test(l)),
    'a probe write completed',
  );
  assert.ok(
    after.some((l) => l.includes('liveness: ok')),
    'replicas converged',
  );
});

test('the demo tells its story and passes every check', () => {
  const r = runDemo(1);
  assert.equal(r.ok, true, r.lines.join('\n'));
  const text = r.lines.join('\n');
  for (const part of ['elected leader', 'crashed', 'restarted', 'linearizable reads', 'identical state']) {
    assert.ok(text.includes(part), `demo output mentions '${part}':\n${text}`);
  }
});
