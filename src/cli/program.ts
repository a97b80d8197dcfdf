// The `ringkv` command: one program, one subcommand per task (loaded by main.ts). Subcommands load
// their code lazily so that `ringkv --help` and the small commands start quickly.
import { Command, CommanderError } from 'commander';
import { RINGKV_VERSION } from '../server/version.ts';
import { registerBenchCommand } from './commands/bench.ts';
import { registerChaosCommand } from './commands/chaos.ts';
import { registerClientCommands } from './commands/register-client.ts';
import { registerServeCommand } from './commands/serve.ts';

// A reader that closes the pipe early (`ringkv … | head`): stop quietly, as other Unix tools do,
// instead of crashing on EPIPE with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

const program = new Command();
program
  .name('ringkv')
  .description('ringkv: a sharded, replicated, strongly consistent key-value store built on its own Raft.')
  .version(RINGKV_VERSION, '-V, --version', 'print the version of ringkv and exit')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('sim')
  .description(
    'Run the deterministic simulator over a range of seeds: real nodes on a simulated clock, disk and network, under faults; check every safety property.',
  )
  .option('--seeds <n>', 'number of seeds to run', '100')
  .option('--start <s>', 'first seed', '1')
  .option(
    '--nodes <k>',
    'machines: 3, 4 or 5 (default: drawn by each seed; past 3 the others join during the faults and the rebalancer moves replicas to them; with 5 one member leaves)',
  )
  .option('--bug <name>', 'plant a known bug (to show the simulator finds it); see --list-bugs')
  .option('--list-bugs', 'list the bugs that can be planted and exit')
  .option('--trace', 'print the full event trace of each seed (use with --seeds 1)')
  .option(
    '--sector-tearing',
    'half the seeds tear unsynced writes by sectors in any order, as a disk may (beyond the file system contract)',
  )
  .option(
    '--real',
    'accepted and ignored: the simulator always runs the real node (the flag of its former second mode)',
  )
  .action(async (opts: Record<string, unknown>) => {
    const { runSimCommand } = await import('./commands/sim.ts');
    process.exitCode = await runSimCommand(opts);
  });

program
  .command('check-history')
  .description('Check recorded client histories for linearizability.')
  .requiredOption('--format <format>', 'history format: etcd-log (Jepsen CAS register) or jepsen-kv')
  .option('--budget-ms <ms>', 'time budget per partition before answering "unknown"', '10000')
  .argument('<file...>', 'history files')
  .action(async (files: string[], opts: Record<string, unknown>) => {
    const { runCheckHistoryCommand } = await import('./commands/check-history.ts');
    process.exitCode = await runCheckHistoryCommand(files, opts);
  });

program
  .command('demo')
  .description('Run a short simulated 3-node cluster and print what it did (`npm run demo`).')
  .option('--seed <s>', 'seed of the simulated run', '1')
  .action(async (opts: Record<string, unknown>) => {
    const { runDemoCommand } = await import('./commands/demo.ts');
    process.exitCode = await runDemoCommand(opts);
  });

registerServeCommand(program);
registerClientCommands(program);
registerBenchCommand(program);
registerChaosCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; everything else is a usage error (exit 2).
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    throw err;
  }
}
