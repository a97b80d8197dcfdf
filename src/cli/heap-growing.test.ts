// setHeapGrowingPercent must set the factor by which V8 lets the old generation grow, in a process
// already running: a child process sets it, then forces full collections with V8 tracing its
// heap controller (`--trace-gc-verbose` prints "[HeapController] factor F" after each), and the
// factor printed must be the one set. If a Node upgrade stopped V8 from reading the flag at run
// time, V8's own factor would print instead (4.0 for the child's small heap) and this fails. The
// memory reducer is off in the child: on a loaded machine it could start and lower the factor.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import {
  DEFAULT_HEAP_GROWING_PERCENT,
  HEAP_GROWING_PERCENT_MAX,
  setHeapGrowingPercent,
} from './heap-growing.ts';

const CHILD = `
import { setHeapGrowingPercent } from ${JSON.stringify(new URL('./heap-growing.ts', import.meta.url).href)};
setHeapGrowingPercent(Number(process.argv[1]));
const kept = [];
for (let i = 0; i < 200_000; i++) kept.push({ i, a: [i] });
globalThis.gc();
globalThis.gc();
if (kept.length !== 200_000) throw new Error('the kept objects were lost');
`;

/** The growing factors V8 printed after the child's full collections, in order. */
async function factorsPrinted(percent: number): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--expose-gc',
      '--trace-gc-verbose',
      '--no-memory-reducer',
      '--input-type=module',
      '--eval',
      CHILD,
      String(percent),
    ],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return [...stdout.matchAll(/\[HeapController\] factor (\d+\.\d+)/g)].map((m) => m[1] as string);
}

test("the growing factor set at run time is the one V8's heap controller uses", async () => {
  for (const percent of [10, DEFAULT_HEAP_GROWING_PERCENT]) {
    const factors = await factorsPrinted(percent);
    // The last two: the child's forced collections, after the factor was set.
    assert.ok(factors.length >= 2, `V8 printed ${factors.length} growing factors, expected at least 2`);
    assert.deepEqual(factors.slice(-2), Array(2).fill((1 + percent / 100).toFixed(1)), `with ${percent} %`);
  }
});

test('a percent outside 0..max is refused, not passed to V8', () => {
  for (const bad of [-1, 1.5, HEAP_GROWING_PERCENT_MAX + 1, Number.NaN])
    assert.throws(() => setHeapGrowingPercent(bad), /heap growing percent must be an integer/);
});
