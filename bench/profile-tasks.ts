// The longest event-loop tasks in V8 .cpuprofile files (from `node bench/compare.ts --cpu-prof DIR`):
// what held a node's event loop, where a latency tail or an event-loop delay came from
// (cpuprofile-tasks.ts says what a task is).
// usage: node bench/profile-tasks.ts file.cpuprofile [more…] [--top 10] [--from S]
import { readFileSync } from 'node:fs';
import { longestTasks } from './cpuprofile-tasks.ts';
import type { CpuProfile } from './profile-common.ts';
import { summaryArgs } from './profile-common.ts';

const USAGE =
  'usage: node bench/profile-tasks.ts file.cpuprofile [more…] [--top 10] [--from S]\n' +
  '  the longest event-loop tasks of V8 CPU profiles (e.g. from bench/compare.ts --cpu-prof DIR), with\n' +
  '  the functions of ours on their stacks; --from S skips the first S seconds of each profile';

const argv = process.argv.slice(2);
const fromAt = argv.indexOf('--from');
const fromS = fromAt >= 0 ? Number(argv[fromAt + 1]) : 0;
if (!(fromS >= 0)) {
  process.stderr.write(`--from must be a number of seconds >= 0, got ${argv[fromAt + 1]}\n${USAGE}\n`);
  process.exit(2);
}
const { files, top } = summaryArgs(
  fromAt >= 0 ? argv.filter((_, i) => i !== fromAt && i !== fromAt + 1) : argv,
  USAGE,
);
const count = argv.includes('--top') ? top : 10;
const ms = (us: number): string => (us / 1000).toFixed(1);

for (const f of files) {
  const tasks = longestTasks(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile, fromS, count);
  console.log(`\n${f}: the ${tasks.length} longest tasks${fromS > 0 ? ` after ${fromS} s` : ''}`);
  for (const k of tasks) {
    console.log(
      `${ms(k.wallUs).padStart(7)} ms at ${(k.startUs / 1e6).toFixed(2)} s: GC ${ms(k.gcUs)} ms, ` +
        `largest gap between samples ${ms(k.largestGapUs)} ms, under ${k.under}`,
    );
    for (const [l, us] of k.ours.slice(0, 6)) console.log(`${ms(us).padStart(15)} ms  ${l}`);
  }
}
