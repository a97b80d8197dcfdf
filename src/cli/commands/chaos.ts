// `ringkv chaos`: the simulator's faults on real processes. Starts a cluster of `ringkv serve`
// processes on this machine, runs a recorded workload through the client library, injects faults
// from a seeded schedule (kill -9 and restart, SIGSTOP/SIGCONT, network partitions, a join and a
// leave), heals, and checks: no acknowledged write lost, replicas identical, the history
// linearizable. The last line is always `chaos: ops N, faults F, lost L, verdict V`; the exit
// status is 0 only when the history is linearizable and nothing was lost (src/cli/chaos/README.md).
// Only the flags are declared here; the run's code loads when the command runs.
import type { Command } from 'commander';

export function registerChaosCommand(program: Command): void {
  program
    .command('chaos')
    .description(
      'Start a real cluster on this machine, inject faults while clients work on it, then check that ' +
        'nothing acknowledged was lost, the replicas agree and the history is linearizable.',
    )
    .option('--nodes <n>', 'cluster size: 3 or 5', '3')
    .option('--duration <time>', 'how long the workload runs, e.g. 60s, 2m', '60s')
    .option(
      '--faults <list>',
      'fault kinds, comma-separated: kill (kill -9, restart), pause (SIGSTOP/SIGCONT), partition ' +
        '(root only: network namespaces), membership (a node joins, another leaves)',
      'kill,pause,partition,membership',
    )
    .option('--seed <s>', 'seed of the fault schedule and the workload (default: random, printed)')
    .option('--keep <dir>', 'leave node logs, the history, the fault timeline and result.json in DIR')
    .option('--clients <n>', 'concurrent workload clients (default: 4 per node)')
    .option('--keys <n>', 'hot keys every client reads and writes', '5')
    .option('--op-timeout-ms <ms>', 'deadline of every workload operation', '2500')
    .option('--planted-bug <name>', 'start the nodes with a known bug, to see chaos catch it: stale-reads')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const { parseChaosOptions, ChaosUsageError } = await import('../chaos/options.ts');
      const { runChaos } = await import('../chaos/run.ts');
      let parsed: ReturnType<typeof parseChaosOptions>;
      try {
        // The faults' default must reach the parser as "not given", so that a partition that cannot
        // run here is skipped rather than refused.
        const given = cmd.getOptionValueSource('faults');
        parsed = parseChaosOptions(
          { ...opts, faults: given === 'cli' ? opts.faults : undefined },
          randomSeed,
        );
      } catch (e) {
        if (!(e instanceof ChaosUsageError)) throw e;
        process.stderr.write(`ringkv chaos: ${e.message} (run ringkv chaos --help for usage)\n`);
        process.exitCode = 2;
        return;
      }
      try {
        process.exitCode = await runChaos(parsed, (line) => process.stdout.write(`${line}\n`));
      } catch (e) {
        if (!(e instanceof ChaosUsageError)) throw e;
        process.stderr.write(`ringkv chaos: ${e.message}\n`);
        process.exitCode = 2;
      }
      // Open channels or timers must not keep the process alive after the run.
      process.exit(process.exitCode);
    });
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
