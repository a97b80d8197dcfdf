// A preload for the nodes under test: V8's sampling heap profiler, counting the objects the GC has
// already collected too, so the profile shows where the bytes are allocated (what the scavenger
// and the promotions pay for), not only what is alive at the end. Written when the process exits.
// usage: node bench/compare.ts --skip-etcd --workloads put-64 --node-args=--import=./bench/alloc-profile.ts
//        then node bench/alloc-summary.ts $TMPDIR/ringkv-alloc.*.heapprofile
// RINGKV_ALLOC_PROF_DIR chooses the directory (default: the system's temporary directory).
// RINGKV_ALLOC_PROF_SURVIVORS=1 leaves out the objects a scavenge collected: what remains is where
// the objects that survived the young generation (copied, then promoted) were allocated.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** One sample per 32 KiB allocated on average: V8's default, cheap enough under load. */
const SAMPLING_INTERVAL_BYTES = 32 * 1024;

if (isMainThread) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_INTERVAL_BYTES,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: process.env.RINGKV_ALLOC_PROF_SURVIVORS !== '1',
  });
  // A same-thread inspector session answers synchronously, so this works in an 'exit' handler.
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (err !== null) {
        process.stderr.write(`alloc-profile: ${err.message}\n`);
        return;
      }
      const dir = process.env.RINGKV_ALLOC_PROF_DIR ?? tmpdir();
      writeFileSync(join(dir, `ringkv-alloc.${process.pid}.heapprofile`), JSON.stringify(res.profile));
    });
  });
}
