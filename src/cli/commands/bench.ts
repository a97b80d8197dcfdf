// `ringkv bench`: load on an already running ringkv cluster with the benchmark's own load generator
// (bench/compare.ts with --endpoints: the same minimal gRPC client, shard-leader routing and
// measurements as the side-by-side comparison with etcd). The generator lives under bench/, outside
// src/ (layering), so it runs as a child process of this command.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';

const COMPARE = resolve(import.meta.dirname, '../../../bench/compare.ts');
const OPS = ['put', 'get-lin', 'get-ser', 'mix'];

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      'Measure a running ringkv cluster: ops/s, p50/p99/p999 latency, server and client CPU per operation.',
    )
    .requiredOption('--endpoints <list>', 'client addresses of the members, host:port,host:port,…')
    .option('--workload <op>', `put, get-lin, get-ser or mix (50/50 put and get-lin)`, 'put')
    .option('--concurrency <n>', 'requests in flight', '64')
    .option('--duration-s <s>', 'measured seconds (after --warmup-s of warm-up)', '5')
    .option('--warmup-s <s>', 'seconds of warm-up, not measured', '1')
    .option('--value-bytes <n>', 'value size in bytes', '256')
    .option('--reps <n>', 'repetitions (the table shows medians)', '1')
    .action(async (opts: Record<string, string>) => {
      process.exitCode = await runBench(opts);
    });
}

async function runBench(o: Record<string, string>): Promise<number> {
  const op = o.workload ?? 'put';
  if (!OPS.includes(op)) {
    process.stderr.write(`--workload must be one of ${OPS.join(', ')}, got "${op}"\n`);
    return 2;
  }
  if (!/^\d+$/.test(o.concurrency ?? '')) {
    process.stderr.write(`--concurrency must be a positive integer, got "${o.concurrency}"\n`);
    return 2;
  }
  if (!existsSync(COMPARE)) {
    process.stderr.write(`the load generator is missing: ${COMPARE} (run from a ringkv checkout)\n`);
    return 1;
  }
  const args = [
    COMPARE,
    '--endpoints',
    o.endpoints ?? '',
    '--workloads',
    `${op}-${o.concurrency}`,
    '--duration-s',
    o.durationS ?? '5',
    '--warmup-s',
    o.warmupS ?? '1',
    '--values',
    o.valueBytes ?? '256',
    '--reps',
    o.reps ?? '1',
  ];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const stop = (): void => {
    child.kill('SIGINT');
  };
  process.once('SIGINT', stop);
  return new Promise((res) => {
    child.on('exit', (code) => {
      process.off('SIGINT', stop);
      res(code ?? 1);
    });
  });
}
