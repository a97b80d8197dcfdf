// The NOSPACE alarm's poll on a manual clock: free space is measured every DISK_CHECK_MS of the
// clock the alarm is handed, and never once it stopped; no real waiting.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DISK_CHECK_MS, DiskAlarm } from './disk-alarm.ts';
import { ManualClock } from './manual-clock.ts';

const MIB = 1024 * 1024;

/** Lets the check started by a callback of the clock run to its end (it awaits freeBytes). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

it('measures free space on each poll of its clock, raises and clears the alarm, and stops polling', async () => {
  const clock = new ManualClock(1_000_000);
  let freeBytes = 100 * MIB;
  const measuredAtMs: number[] = [];
  const silent = () => {};
  const alarm = new DiskAlarm({
    nodeId: 'n1',
    raftDir: '/data',
    segmentBytes: 64 * MIB,
    logger: { warn: silent, info: silent, debug: silent },
    clock,
    wal: { nextSegmentProblem: () => undefined, retryPreparing: silent },
    freeBytes: async () => {
      measuredAtMs.push(clock.nowMs());
      return freeBytes;
    },
  });
  alarm.start();
  clock.advance(DISK_CHECK_MS - 1);
  await settle();
  assert.deepEqual(measuredAtMs, [], 'no poll before the first interval');
  clock.advance(1);
  await settle();
  assert.deepEqual(measuredAtMs, [1_000_000 + DISK_CHECK_MS]);
  assert.equal(alarm.state, undefined, 'room for a segment: no alarm');

  freeBytes = 10 * MIB;
  clock.advance(DISK_CHECK_MS);
  await settle();
  assert.equal(measuredAtMs.length, 2);
  assert.deepEqual(alarm.state, { freeBytes: 10 * MIB, neededBytes: 64 * MIB, walProblem: undefined });
  assert.match(alarm.refusal() ?? '', /NOSPACE alarm/);

  freeBytes = 96 * MIB; // one and a half segments: it clears
  clock.advance(DISK_CHECK_MS);
  await settle();
  assert.equal(alarm.state, undefined);

  alarm.stop();
  assert.equal(clock.pendingTimers, 0, 'stop cancels the poll');
  clock.advance(10 * DISK_CHECK_MS);
  await settle();
  assert.equal(measuredAtMs.length, 3, 'no poll once stopped');
});
