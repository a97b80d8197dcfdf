import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longestTasks } from '../../bench/cpuprofile-tasks.ts';
import type { CpuProfile } from '../../bench/profile-common.ts';

const REPO = 'file:///somewhere/ringkv';

/** root → (idle) | processImmediate → turn (ours) | (garbage collector) | microtasks → reply (ours). */
function profile(samples: number[], timeDeltas: number[]): CpuProfile {
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 5, 6] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('processImmediate', 'node:internal/timers', 524), children: [4] },
      { id: 4, callFrame: frame('turn', `${REPO}/src/node/driver.ts`, 175) },
      { id: 5, callFrame: frame('(garbage collector)') },
      {
        id: 6,
        callFrame: frame('processTicksAndRejections', 'node:internal/process/task_queues', 71),
        children: [7],
      },
      { id: 7, callFrame: frame('reply', `${REPO}/src/server/unary-http2.ts`, 145) },
    ],
    samples,
    timeDeltas,
  };
}

test('a task runs from one idle sample to the next under one bottom frame, GC counted with it, longest first', () => {
  // idle | immediate, turn, GC, turn (a 5 ms gap) | idle | reply, reply | idle | GC alone
  const p = profile(
    [2, 3, 4, 5, 4, 2, 7, 7, 2, 5],
    [1000, 1000, 1000, 1000, 5000, 1000, 1000, 1000, 1000, 1000],
  );
  const tasks = longestTasks(p, 0, 10);
  assert.deepEqual(
    tasks.map((k) => [k.under, k.startUs, k.wallUs, k.gcUs, k.largestGapUs]),
    [
      ['processImmediate node:internal/timers:525', 1000, 8000, 1000, 5000],
      ['processTicksAndRejections node:internal/process/task_queues:72', 10_000, 2000, 0, 1000],
      ['(GC / program)', 13_000, 1000, 1000, 1000],
    ],
  );
  // Only our functions, with the time they were on the stack.
  assert.deepEqual(tasks[0]?.ours, [['turn src/node/driver.ts:176', 6000]]);
  assert.deepEqual(tasks[1]?.ours, [['reply src/server/unary-http2.ts:146', 2000]]);
});

test('two bottom frames back to back are two tasks; --from and the count select among them', () => {
  const p = profile([3, 4, 7, 7, 7], [1000, 1000, 1000, 1000, 1000]);
  const all = longestTasks(p, 0, 10);
  assert.deepEqual(
    all.map((k) => [k.under.split(' ')[0], k.wallUs]),
    [
      ['processTicksAndRejections', 3000],
      ['processImmediate', 2000],
    ],
  );
  assert.equal(longestTasks(p, 0, 1).length, 1);
  assert.deepEqual(
    longestTasks(p, 0.002, 10).map((k) => k.startUs),
    [2000],
    'a task starting before --from is left out',
  );
});
