// setHeapGrowing must set the factor by which V8 lets the old generation grow, in a process
// already running: a child process sets it, then forces full collections with V8 tracing its
// heap controller (`--trace-gc-verbose` prints "[HeapController] factor F" after each), and the
// factor printed must be the one set; with a floor in MB, the one the floor gives for what the old
// generation holds, followed from collection to collection. If a Node upgrade stopped V8 from reading the flag at run
// time, V8's own factor would print instead (4.0 for the child's small heap) and this fails. The
// memory reducer is off in the child: on a loaded machine it could start and lower the factor.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import {
  DEFAULT_HEAP_GROWING_PERCENT,
  growingPercent,
  HEAP_GROWING_MIN_MB_MAX,
  HEAP_GROWING_PERCENT_MAX,
  setHeapGrowing,
} from './heap-growing.ts';

const MODULE = JSON.stringify(new URL('./heap-growing.ts', import.meta.url).href);

/** Keeps about 15 MB, sets the percent (argv[1]) with no floor, collects twice. */
const CHILD = `
import { setHeapGrowing } from ${MODULE};
setHeapGrowing({ percent: Number(process.argv[1]), minMb: 0 });
const kept = [];
for (let i = 0; i < 200_000; i++) kept.push({ i, a: [i] });
globalThis.gc();
globalThis.gc();
if (kept.length !== 200_000) throw new Error('the kept objects were lost');
`;

/**
 * 50 % with a 64 MB floor: keeps a few MB and collects (the floor's share of the old generation,
 * Node's own objects included, is over 300 %: 4× printed), then keeps about 160 MB more and collects (under 50 %: 1.5× printed). Each pair of
 * collections is apart by a timer, so that the observer of the first has run before the second.
 */
const CHILD_FLOOR = `
import { setHeapGrowing } from ${MODULE};
const pause = () => new Promise((r) => setTimeout(r, 50));
setHeapGrowing({ percent: 50, minMb: 64 });
const kept = [];
for (let i = 0; i < 20_000; i++) kept.push({ i, a: [i] });
globalThis.gc(); await pause(); globalThis.gc(); await pause();
console.log('-- more kept');
const more = new Array(20_000_000).fill(1);
globalThis.gc(); await pause(); globalThis.gc(); await pause();
if (kept.length !== 20_000 || more.length !== 20_000_000) throw new Error('the kept objects were lost');
`;

/** What a child running `source` (with `args`) printed, V8 tracing its heap controller. */
async function childOutput(source: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--expose-gc',
      '--trace-gc-verbose',
      '--no-memory-reducer',
      '--input-type=module',
      '--eval',
      source,
      ...args,
    ],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** The growing factors V8 printed after full collections, in order. */
function factorsIn(output: string): string[] {
  return [...output.matchAll(/\[HeapController\] factor (\d+\.\d+)/g)].map((m) => m[1] as string);
}

test("the growing factor set at run time is the one V8's heap controller uses", async () => {
  for (const percent of [10, DEFAULT_HEAP_GROWING_PERCENT]) {
    const factors = factorsIn(await childOutput(CHILD, String(percent)));
    // The last two: the child's forced collections, after the factor was set.
    assert.ok(factors.length >= 2, `V8 printed ${factors.length} growing factors, expected at least 2`);
    assert.deepEqual(factors.slice(-2), Array(2).fill((1 + percent / 100).toFixed(1)), `with ${percent} %`);
  }
});

test('with a floor, the factor follows what the old generation holds: 4× for a small one, the percent for a large one', async () => {
  const [small, large] = (await childOutput(CHILD_FLOOR)).split('-- more kept').map(factorsIn);
  assert.ok(small !== undefined && large !== undefined, 'the child printed its marker');
  assert.equal(small.at(-1), '4.0', `small heap: factors ${small.join(', ')}`);
  assert.equal(large.at(-1), '1.5', `large heap: factors ${large.join(', ')}`);
});

test('the percent for a live size: the larger of the percent and the floor, at most 300', () => {
  const MB = 1024 * 1024;
  assert.equal(growingPercent({ percent: 50, minMb: 64 }, 23 * MB), 279);
  assert.equal(growingPercent({ percent: 50, minMb: 64 }, 110 * MB), 59);
  assert.equal(growingPercent({ percent: 50, minMb: 64 }, 128 * MB), 50);
  assert.equal(growingPercent({ percent: 50, minMb: 64 }, 1 * MB), HEAP_GROWING_PERCENT_MAX);
  assert.equal(growingPercent({ percent: 50, minMb: 0 }, 1 * MB), 50);
  assert.equal(growingPercent({ percent: 0, minMb: 64 }, 1 * MB), 0);
});

test('a percent or floor outside its range is refused, not passed to V8', () => {
  for (const bad of [-1, 1.5, HEAP_GROWING_PERCENT_MAX + 1, Number.NaN])
    assert.throws(
      () => setHeapGrowing({ percent: bad, minMb: 0 }),
      /heap growing percent must be an integer/,
    );
  for (const bad of [-1, 0.5, HEAP_GROWING_MIN_MB_MAX + 1])
    assert.throws(() => setHeapGrowing({ percent: 50, minMb: bad }), /heap growing floor must be an integer/);
});
