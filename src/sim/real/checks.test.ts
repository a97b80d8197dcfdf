// The end-of-run check that nothing acknowledged was lost, on small hand-made histories.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AckedWrite } from './clients.ts';
import { checkNothingLost } from './run.ts';
import { RealViolation } from './violation.ts';

const w = (key: string, value: string, callMs: number, returnMs: number): AckedWrite => ({
  key,
  value,
  callMs,
  returnMs,
});

function lost(
  finals: Record<string, { found: boolean; value: string }>,
  acked: AckedWrite[],
  indeterminate: AckedWrite[] = [],
): string | undefined {
  const may = new Map(
    [...acked, ...indeterminate].map((a) => [
      a.value,
      { key: a.key, callMs: a.callMs, returnMs: a.returnMs },
    ]),
  );
  try {
    checkNothingLost(new Map(Object.entries(finals)), acked, may);
    return undefined;
  } catch (e) {
    assert.ok(e instanceof RealViolation && e.property === 'lostWrite', String(e));
    return e.detail;
  }
}

test('the last acknowledged value, or a concurrent one, is not a loss', () => {
  const acked = [w('a', 'v1', 0, 10), w('a', 'v2', 20, 30), w('a', 'v3', 25, 40)];
  assert.equal(lost({ a: { found: true, value: 'v3' } }, acked), undefined);
  // v2 and v3 overlap: either may be last.
  assert.equal(lost({ a: { found: true, value: 'v2' } }, acked), undefined);
  // A write that never returned may follow every acknowledged one.
  const maybe = [w('a', 'v4', 35, Number.POSITIVE_INFINITY)];
  assert.equal(lost({ a: { found: true, value: 'v4' } }, acked, maybe), undefined);
});

test('a value overwritten by a later acknowledged write is a loss', () => {
  const acked = [w('a', 'v1', 0, 10), w('a', 'v2', 20, 30)];
  assert.match(lost({ a: { found: true, value: 'v1' } }, acked) ?? '', /v2, called at 20 ms/);
});

test('an absent key after an acknowledged write, or a value nobody wrote, is a loss', () => {
  assert.match(lost({ a: { found: false, value: '' } }, [w('a', 'v1', 0, 10)]) ?? '', /absent/);
  assert.match(lost({ a: { found: true, value: 'zz' } }, [w('a', 'v1', 0, 10)]) ?? '', /no write/);
  assert.equal(lost({ b: { found: false, value: '' } }, [w('a', 'v1', 0, 10)]), undefined);
});
