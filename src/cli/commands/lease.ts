// The lease commands: lease grant, keep-alive, revoke, ttl. Each returns its exit code: 0 done, 1
// the operation failed (or the lease is gone); usage errors exit 2 (commander, usageError).
import type { Command } from 'commander';
import type { LeaseLost, RingkvClient } from '../../client/index.ts';
import { argBytes, escapeControl, showBytes, usageError, withClient } from './client-common.ts';
import { printJson, wantsJson } from './output.ts';

type Opts = Record<string, unknown>;

/** `lease grant TTL_SECONDS [--for-key K | --shard N]`: prints the id (json: {"id", "ttl"}). */
export function runLeaseGrant(ttl: number, opts: Opts, cmd: Command): Promise<number> {
  if (opts.forKey !== undefined && opts.shard !== undefined)
    usageError(cmd, 'give --for-key or --shard, not both');
  return withClient(opts, cmd, async (client, conn) => {
    const key = typeof opts.forKey === 'string' ? argBytes(opts.forKey, '--for-key', conn, cmd) : undefined;
    const shard = typeof opts.shard === 'number' ? opts.shard : undefined;
    const r = await client.leaseGrant(ttl, {
      ...(key === undefined ? {} : { key }),
      ...(shard === undefined ? {} : { shard }),
    });
    if (wantsJson(opts)) printJson({ id: r.id.toString(), ttl: r.ttlSeconds });
    else process.stdout.write(`${r.id} (ttl ${r.ttlSeconds}s)\n`);
    return 0;
  });
}

/** `lease revoke ID`: deletes the lease's keys. A lease that does not exist is no failure. */
export function runLeaseRevoke(id: bigint, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const r = await client.leaseRevoke(id);
    if (wantsJson(opts)) printJson({ id: id.toString(), found: r.found, deleted: r.deleted });
    else
      process.stdout.write(
        r.found ? `revoked (${r.deleted} keys deleted)\n` : `lease ${id} not found (nothing to revoke)\n`,
      );
    return 0;
  });
}

/** `lease ttl ID [--keys]`: exit 1 when the lease does not exist. */
export function runLeaseTtl(id: bigint, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client, conn) => {
    const r = await client.leaseTimeToLive(id, { keys: opts.keys === true });
    const keys = r.keys.map((k) => showBytes(k, conn));
    if (wantsJson(opts)) {
      printJson({
        id: id.toString(),
        found: r.found,
        ttl: r.ttlSeconds,
        remainingMs: r.remainingMs,
        ...(opts.keys === true ? { keys } : {}),
      });
    } else if (!r.found) process.stderr.write(`lease ${id} not found\n`);
    else {
      process.stdout.write(`lease ${id}: ttl ${r.ttlSeconds}s, ${(r.remainingMs / 1000).toFixed(1)}s left\n`);
      for (const k of keys) process.stdout.write(`${escapeControl(k).text}\n`);
    }
    return r.found ? 0 : 1;
  });
}

/**
 * `lease keep-alive ID`: renews every TTL/3 until SIGINT or SIGTERM (exit 0), a line per renewal;
 * exit 1 once the lease is gone or could not be renewed within its TTL.
 */
export function runLeaseKeepAlive(id: bigint, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => keepAliveUntilStopped(client, id, opts));
}

async function keepAliveUntilStopped(client: RingkvClient, id: bigint, opts: Opts): Promise<number> {
  const keeper = client.keepAlive(id, {
    onRenewed: (ttl) => {
      if (wantsJson(opts)) printJson({ id: id.toString(), ttl });
      else process.stdout.write(`lease ${id} kept alive (ttl ${ttl}s)\n`);
    },
  });
  let onSignal = (): void => {};
  const stopped = new Promise<'stopped'>((resolve) => {
    onSignal = () => resolve('stopped');
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome: LeaseLost | 'stopped' = await Promise.race([keeper.lost, stopped]);
    if (outcome === 'stopped') return 0;
    const why =
      outcome.reason === 'notFound'
        ? 'it does not exist (expired or revoked)'
        : 'no renewal succeeded within its TTL';
    process.stderr.write(`error: lease ${id} lost: ${why}\n`);
    return 1;
  } finally {
    keeper.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
