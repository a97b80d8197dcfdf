// 1,000 idle watch streams on one real `ringkv serve` process: each opens (its first progress comes),
// the node counts them (ringkv_watches_open), progress keeps flowing while nothing is written, and
// they all close when the client leaves its loops. What they cost the node is measured and printed
// (CPU per second idle, with and without them; RSS), never asserted: figures belong to the README,
// and the machine is shared.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { WatchItem } from '../../src/client/index.ts';
import { metricSum, ProcessCluster, sleep, waitUntil } from './harness.ts';

const WATCHERS = 1000;
/** How long CPU is measured idle, before and with the watchers. */
const IDLE_WINDOW_MS = 5000;

/** CPU time (user + system) of a process so far, in ms (Linux /proc, 100 ticks per second). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

async function idleCpuMsPerS(pid: number): Promise<number> {
  const t0 = cpuMs(pid);
  await sleep(IDLE_WINDOW_MS);
  return ((cpuMs(pid) - t0) * 1000) / IDLE_WINDOW_MS;
}

function watchesOpen(c: ProcessCluster): Promise<number> {
  return metricSum(c, 'ringkv_watches_open');
}

describe('1,000 idle watches on one node', { timeout: 120_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({ nodes: 1 });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('open, get progress while idle, close when the loops are left; their cost printed', async () => {
    const node = c.nodes[0];
    assert.ok(node !== undefined);
    const client = c.client();
    await client.put('idle/warm', 'x');
    const baseCpu = await idleCpuMsPerS(node.pid);
    const baseRss = rssMb(node.pid);

    const its = Array.from({ length: WATCHERS }, (_, i) =>
      client.watch(`idle/${i}`, { progress: true, progressIntervalMs: 1000 })[Symbol.asyncIterator](),
    );
    const progressed = new Array<number>(WATCHERS).fill(0);
    let stop = false;
    const loops = its.map(async (it, i) => {
      while (!stop) {
        const r: IteratorResult<WatchItem> = await it.next();
        if (r.done) return;
        if (r.value.type === 'progress') progressed[i] = (progressed[i] ?? 0) + 1;
        else assert.fail(`watcher ${i} got an event, nothing was written: ${JSON.stringify(r.value)}`);
      }
    });
    try {
      await waitUntil('every watch to open (its first progress)', 60_000, () =>
        progressed.every((n) => n >= 1) ? true : undefined,
      );
      assert.equal(await watchesOpen(c), WATCHERS);
      const before = progressed.reduce((a, b) => a + b, 0);
      const withCpu = await idleCpuMsPerS(node.pid);
      const withRss = rssMb(node.pid);
      const after = progressed.reduce((a, b) => a + b, 0);
      // One progress a second each: the idle streams stay alive and the node keeps answering.
      assert.ok(
        after - before >= WATCHERS * 2,
        `progress while idle: ${after - before} in ${IDLE_WINDOW_MS} ms`,
      );
      console.log(
        `${WATCHERS} idle watches on one node: ${withCpu.toFixed(0)} ms CPU per s with them (a progress each per second) against ${baseCpu.toFixed(0)} without; RSS ${withRss.toFixed(0)} MB against ${baseRss.toFixed(0)} MB`,
      );
    } finally {
      stop = true;
      await Promise.all(its.map((it) => it.return?.()));
      await Promise.allSettled(loops);
    }
    await waitUntil('the node to close every stream', 10_000, async () =>
      (await watchesOpen(c)) === 0 ? true : undefined,
    );
  });
});
