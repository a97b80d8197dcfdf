// The 108 histories of porcupine's test data with their known verdicts (from porcupine_test.go, as
// listed in testdata/porcupine/README.md). The list is written out here, not derived from the data,
// so that a changed file cannot quietly change its own expected answer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkOperations } from './check.ts';
import { parseEtcdLog } from './formats/etcd-log.ts';
import { parseJepsenKv } from './formats/jepsen-kv.ts';
import { registerModel, stringKvModel } from './models.ts';
import type { Verdict } from './types.ts';

const dataDir = join(import.meta.dirname, 'testdata', 'porcupine');

/** etcd logs expected linearizable; every other etcd_000..102 except 095 is expected not to be. */
const ETCD_LINEARIZABLE = [
  2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102,
];
/** Empty file; porcupine has no test (so no verdict) for it. */
const ETCD_WITHOUT_VERDICT = 95;

const expected = new Map<string, Verdict>();
for (let i = 0; i <= 102; i++) {
  if (i === ETCD_WITHOUT_VERDICT) continue;
  const name = `etcd_${String(i).padStart(3, '0')}.log`;
  expected.set(name, ETCD_LINEARIZABLE.includes(i) ? 'linearizable' : 'not linearizable');
}
for (const clients of ['01', '10', '50']) {
  expected.set(`c${clients}-ok.txt`, 'linearizable');
  expected.set(`c${clients}-bad.txt`, 'not linearizable');
}

/** Large enough that no verdict is 'unknown' on a slow shared machine: the test wants real answers. */
const BUDGET_MS_PER_PARTITION = 60_000;
let totalMs = 0;
const slowest: { name: string; ms: number }[] = [];

test('the expected-verdict list has the README counts: 108 in all, 26 linearizable', () => {
  assert.equal(expected.size, 108);
  assert.equal([...expected.values()].filter((v) => v === 'linearizable').length, 26);
});

for (const [name, verdict] of expected) {
  test(`${name} is ${verdict}`, () => {
    const text = readFileSync(join(dataDir, name), 'utf8');
    const startMs = performance.now();
    const result = name.endsWith('.log')
      ? checkOperations(registerModel, parseEtcdLog(text, name).operations, {
          budgetMsPerPartition: BUDGET_MS_PER_PARTITION,
        })
      : checkOperations(stringKvModel, parseJepsenKv(text, name).operations, {
          budgetMsPerPartition: BUDGET_MS_PER_PARTITION,
        });
    const ms = performance.now() - startMs;
    totalMs += ms;
    slowest.push({ name, ms });
    assert.equal(result.verdict, verdict);
    assert.equal(result.violation !== undefined, verdict === 'not linearizable');
  });
}

test('etcd_095.log (0 bytes, no porcupine verdict) is the empty history: linearizable', () => {
  const text = readFileSync(join(dataDir, 'etcd_095.log'), 'utf8');
  assert.equal(text, '');
  const parsed = parseEtcdLog(text, 'etcd_095.log');
  assert.equal(parsed.operations.length, 0);
  assert.equal(checkOperations(registerModel, parsed.operations).verdict, 'linearizable');
});

after(() => {
  slowest.sort((a, b) => b.ms - a.ms);
  const top = slowest
    .slice(0, 5)
    .map((s) => `${s.name} ${s.ms.toFixed(0)} ms`)
    .join(', ');
  console.log(
    `porcupine data: ${slowest.length} histories checked in ${totalMs.toFixed(0)} ms (slowest: ${top})`,
  );
});
