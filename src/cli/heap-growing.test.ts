// setHeapGrowingPercent must change how large V8 lets the old generation grow, set while the process
// runs: a child process keeps 500,000 objects and turns over 300,000 more that live long enough to
// be promoted, once with the factor at 1.1 and once at 4; the first's old space must stay well below
// the second's (measured: 165 against 431 MB). If a Node upgrade stopped V8 from reading the flag
// at run time, both would be alike and this fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { HEAP_GROWING_PERCENT_MAX, setHeapGrowingPercent } from './heap-growing.ts';

const CHILD = `
import v8 from 'node:v8';
import { setHeapGrowingPercent } from ${JSON.stringify(new URL('./heap-growing.ts', import.meta.url).href)};
setHeapGrowingPercent(Number(process.argv[1]));
const live = [];
for (let i = 0; i < 500_000; i++) live.push({ a: i, b: [i] });
const ring = new Array(300_000);
let max = 0;
for (let i = 0; i < 6_000_000; i++) {
  ring[i % ring.length] = { a: i, b: [i, i + 1] };
  if (i % 50_000 === 0) {
    const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
    max = Math.max(max, old.space_size);
  }
}
if (live.length !== 500_000) throw new Error('the kept objects were lost');
process.stdout.write(String(max));
`;

async function oldSpaceMaxBytes(percent: number): Promise<number> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '--eval', CHILD, String(percent)],
    { timeout: 60_000 },
  );
  const bytes = Number(stdout);
  assert.ok(bytes > 0, `the child printed ${JSON.stringify(stdout)}, not a size`);
  return bytes;
}

test('the growing factor set at run time bounds the old generation', async () => {
  const tight = await oldSpaceMaxBytes(10);
  const loose = await oldSpaceMaxBytes(HEAP_GROWING_PERCENT_MAX);
  assert.ok(
    tight < 0.6 * loose,
    `old space at most ${(tight / 1e6).toFixed(0)} MB with 10 % against ${(loose / 1e6).toFixed(0)} MB with ${HEAP_GROWING_PERCENT_MAX} %`,
  );
});

test('a percent outside 0..max is refused, not passed to V8', () => {
  for (const bad of [-1, 1.5, HEAP_GROWING_PERCENT_MAX + 1, Number.NaN])
    assert.throws(() => setHeapGrowingPercent(bad), /heap growing percent must be an integer/);
});
