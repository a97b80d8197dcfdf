// `ringkv lock NAME [--ttl SECONDS] -- COMMAND [ARGS…]`: takes the lock (waiting while another
// holds it), runs COMMAND with RINGKV_LOCK_NAME and RINGKV_LOCK_TOKEN in its environment while the
// lease is kept alive, then releases it. Exit statuses: COMMAND's own (128 + the signal's number
// when a signal ended it); 1 when the lock could not be taken or was lost while COMMAND ran (it is
// sent SIGTERM); 2 usage. SIGINT/SIGTERM while waiting give up (exit 130/143 as a shell would);
// while COMMAND runs they are passed on to it, and the lock is released once it exits.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import type { LockHandle, RingkvClient } from '../../client/index.ts';
import { usageError, withClient } from './client-common.ts';
import { wantsJson } from './output.ts';

type Opts = Record<string, unknown>;

export function runLock(name: string, argv: readonly string[], opts: Opts, cmd: Command): Promise<number> {
  const [program, ...args] = argv;
  if (program === undefined) usageError(cmd, 'give the command to run after --: ringkv lock NAME -- COMMAND');
  return withClient(opts, cmd, (client) => lockAndRun(client, name, program ?? '', args, opts));
}

async function lockAndRun(
  client: RingkvClient,
  name: string,
  program: string,
  args: readonly string[],
  opts: Opts,
): Promise<number> {
  const waiting = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    signalled = s;
    waiting.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let handle: LockHandle;
    try {
      handle = await client.lock(name, { ttlMs: Number(opts.ttl ?? 10) * 1000, signal: waiting.signal });
    } catch (e) {
      if (signalled !== undefined) return 128 + constants.signals[signalled];
      throw e;
    }
    const token = handle.token.toString();
    const lease = handle.lease.toString();
    process.stderr.write(
      wantsJson(opts)
        ? `${JSON.stringify({ name, token, lease })}\n`
        : `lock ${name} acquired, token ${token}, lease ${lease}\n`,
    );
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return await runHolding(handle, program, args);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runHolding(handle: LockHandle, program: string, args: readonly string[]): Promise<number> {
  const child = spawn(program, args, {
    stdio: 'inherit',
    env: { ...process.env, RINGKV_LOCK_NAME: handle.name, RINGKV_LOCK_TOKEN: handle.token.toString() },
  });
  const forward = (s: NodeJS.Signals): void => void child.kill(s);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let lostWhy: string | undefined;
  void handle.lost.then((e) => {
    lostWhy = e.message;
    child.kill('SIGTERM');
  });
  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    if (exit.error !== undefined) {
      process.stderr.write(`error: could not run ${program}: ${exit.error.message}\n`);
      return 1;
    }
    if (lostWhy !== undefined) {
      process.stderr.write(`error: ${lostWhy}; ${program} was sent SIGTERM\n`);
      return 1;
    }
    return exit.code ?? 128 + (exit.signal === null ? 0 : constants.signals[exit.signal]);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    await handle.unlock().catch((e: unknown) => {
      process.stderr.write(
        `warning: releasing lock ${handle.name}: ${String(e)} (its lease expires by itself)\n`,
      );
    });
  }
}
