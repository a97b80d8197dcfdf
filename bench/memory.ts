// Where a node's memory goes: starts a 3-node ringkv cluster with leaders packed, preloads N keys of
// the value size and runs one put-64 repetition over them (bench/compare.ts --endpoints --keys), then
// prints each node's resident set beside what V8 says of it: the JavaScript heap (used and
// reserved) and the memory outside it that buffers hold (`external`: every ArrayBuffer's bytes),
// and the heap by V8 space, read from the node's /metrics (prom-client's process metrics) once the
// load has stopped. Last, restarts a follower (SIGKILL, then the same command line) and times it
// until its /readyz says 200.
// usage: node bench/memory.ts [--keys 200000] [--values 1024] [--duration-s 10]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { killAllStarted, startRingkv } from './clusters.ts';
import { rssBytes } from './footprint.ts';
import { metricTotal } from './prometheus-text.ts';
import { scriptOptions } from './script-options.ts';

const USAGE = `usage: node bench/memory.ts [--keys N] [--values BYTES] [--duration-s S]
  a packed 3-node cluster: N keys (default 200000) of BYTES (default 1024) preloaded, one put-64
  repetition of S seconds (default 10) over them, then per node: RSS, V8 heap used / reserved,
  and the bytes of buffers outside the heap (nodejs_external_memory_bytes), in MB, and the heap's
  spaces; then the time a follower killed with SIGKILL takes from its restart to /readyz 200`;

// The spaces of prom-client's report (v8.getHeapSpaceStatistics) that hold nearly all of a node's heap.
const HEAP_SPACES = ['old', 'new', 'large_object', 'new_large_object', 'code'];

const o = scriptOptions({ keys: '200000', values: '1024', 'duration-s': '10' }, USAGE);
const keys = o.int('keys', 1, 100_000_000);
const valueBytes = o.int('values', 1, 1 << 20);
const durationS = o.int('duration-s', 1, 600);

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllStarted();
    process.exit(1);
  });
}

const cluster = await startRingkv({ leaderPlacement: 'pack' });
try {
  if (cluster.adminEndpoints.length !== cluster.pids.length)
    throw new Error('this build of ringkv has no admin port: its heap figures cannot be read');
  const out = execFileSync(
    process.execPath,
    [
      join(import.meta.dirname, 'compare.ts'),
      ...['--endpoints', cluster.endpoints.join(','), '--keys', String(keys)],
      ...['--values', String(valueBytes), '--workloads', 'put-64', '--clients', 'leader'],
      ...['--reps', '1', '--duration-s', String(durationS)],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const row = out.split('\n').find((l) => l.startsWith('| put-64 '));
  if (row !== undefined) console.log(`put-64 over the preloaded keys: ${row}`);
  const dataMb = (keys * (valueBytes + 16)) / 1e6;
  console.log(
    `${keys} keys of ${valueBytes} B: about ${dataMb.toFixed(0)} MB of keys and values per replica`,
  );
  const spaces: string[] = [];
  console.log('| node | RSS MB | V8 heap used / reserved MB | buffers outside the heap MB |');
  console.log('|---|---:|---:|---:|');
  for (const [i, pid] of cluster.pids.entries()) {
    const text = await (await fetch(`http://${cluster.adminEndpoints[i]}/metrics`)).text();
    const mb = (name: string): string => (metricTotal(text, name) / 1e6).toFixed(0);
    console.log(
      `| node${i + 1}${i === 0 ? ' (leader)' : ''} | ${(rssBytes(pid) / 1e6).toFixed(0)} | ` +
        `${mb('nodejs_heap_size_used_bytes')} / ${mb('nodejs_heap_size_total_bytes')} | ` +
        `${mb('nodejs_external_memory_bytes')} |`,
    );
    spaces.push(
      `node${i + 1}: ` +
        HEAP_SPACES.map((space) => {
          const having = `space="${space}"`;
          const used = metricTotal(text, 'nodejs_heap_space_size_used_bytes', having) / 1e6;
          const total = metricTotal(text, 'nodejs_heap_space_size_total_bytes', having) / 1e6;
          return `${space} ${used.toFixed(0)}/${total.toFixed(0)}`;
        }).join(', '),
    );
  }
  console.log('V8 heap spaces, used / reserved MB:');
  for (const line of spaces) console.log(`  ${line}`);
  if (cluster.restart !== undefined) {
    const ms = await cluster.restart(2);
    console.log(
      `node3 killed (SIGKILL) and started again: ready (/readyz 200) ${(ms / 1000).toFixed(1)} s after its start`,
    );
  }
} finally {
  await cluster.stop();
}
