// `ringkv txn` (compares, then one branch, as one atomic step of one shard) and `ringkv del
// --prefix / --end` (a range delete: atomic per shard, not across shards). Each returns its exit
// code: 0 done (a transaction whose compares failed ran its else branch: done too), 1 the
// operation failed; usage errors exit 2.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { TxnOpResult, TxnSpec } from '../../client/index.ts';
import { argBytes, showBytes, usageError, withClient } from './client-common.ts';
import { printJson, wantsJson } from './output.ts';
import { parseTxnClauses, parseTxnJson, TxnSyntaxError } from './txn-syntax.ts';

type Opts = Record<string, unknown>;

/** Bound on the JSON document read from standard input. */
const STDIN_BYTES_MAX = 16 * 1024 * 1024;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);

export function runTxn(source: string | undefined, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client, conn) => {
    const bytes = (text: string, what: string) => argBytes(text, what, conn, cmd);
    const clauses = { compares: strings(opts.if), success: strings(opts.then), failure: strings(opts.else) };
    const flags = clauses.compares.length + clauses.success.length + clauses.failure.length;
    if (source !== undefined && source !== '-')
      usageError(
        cmd,
        `txn takes - (read the transaction from standard input) or no argument, not ${JSON.stringify(source)}`,
      );
    if (source === '-' && flags > 0)
      usageError(cmd, 'give the transaction as --if/--then/--else or on standard input (-), not both');
    if (source === undefined && clauses.success.length + clauses.failure.length === 0)
      usageError(
        cmd,
        'txn needs at least one --then or --else operation (or - to read the transaction from standard input)',
      );
    let spec: TxnSpec;
    try {
      spec = source === '-' ? parseTxnJson(readStdin(cmd), bytes) : parseTxnClauses(clauses, bytes);
    } catch (e) {
      if (e instanceof TxnSyntaxError) usageError(cmd, e.message);
      throw e;
    }
    const r = await client.txn(spec);
    const results = r.results.map((x) => resultRow(x, (b) => showBytes(b, conn)));
    if (wantsJson(opts)) {
      printJson({
        succeeded: r.succeeded,
        branch: r.succeeded ? 'then' : 'else',
        shard: r.header?.shardId,
        index: r.header?.index,
        results,
      });
      return 0;
    }
    process.stdout.write(
      r.succeeded ? 'succeeded: the --then branch ran\n' : 'not succeeded: the --else branch ran\n',
    );
    for (const row of results) process.stdout.write(`${resultLine(row)}\n`);
    return 0;
  });
}

type Row =
  | { op: 'get'; key: string; found: boolean; value?: string; version?: bigint }
  | { op: 'put'; key: string; prevVersion: bigint }
  | { op: 'delete'; key: string; deleted: boolean };

function resultRow(x: TxnOpResult, show: (b: Uint8Array) => string): Row {
  if (x.op === 'get')
    return x.found
      ? { op: 'get', key: show(x.key), found: true, value: show(x.value), version: x.version }
      : { op: 'get', key: show(x.key), found: false };
  if (x.op === 'put') return { op: 'put', key: show(x.key), prevVersion: x.prevVersion };
  return { op: 'delete', key: show(x.key), deleted: x.deleted };
}

function resultLine(r: Row): string {
  const key = JSON.stringify(r.key);
  if (r.op === 'get')
    return r.found
      ? `get ${key}: ${JSON.stringify(r.value)} (version ${r.version})`
      : `get ${key}: not found`;
  if (r.op === 'put')
    return `put ${key}: OK (${r.prevVersion === 0n ? 'was absent' : `previous version ${r.prevVersion}`})`;
  return `del ${key}: ${r.deleted ? 'deleted' : 'not found'}`;
}

function readStdin(cmd: Command): string {
  let data: Buffer;
  try {
    data = readFileSync(0);
  } catch (e) {
    usageError(cmd, `cannot read standard input: ${(e as Error).message}`);
  }
  if (data.length > STDIN_BYTES_MAX)
    usageError(cmd, `standard input has ${data.length} bytes, more than ${STDIN_BYTES_MAX}`);
  return data.toString('utf8');
}

/** `del KEY --prefix` or `del START --end END`: a range delete over every shard, summed. */
export function runDelRange(key: string, opts: Opts, cmd: Command): Promise<number> {
  if (opts.prefix === true && opts.end !== undefined) usageError(cmd, 'give --prefix or --end, not both');
  return withClient(opts, cmd, async (client, conn) => {
    const start = argBytes(key, opts.prefix === true ? 'PREFIX' : 'START', conn, cmd);
    const range =
      opts.prefix === true
        ? { prefix: start }
        : { start, end: argBytes(opts.end as string, '--end', conn, cmd) };
    const r = await client.deleteRange(range);
    const shards = r.shards.map((s) => ({ shard: s.shard, deleted: s.deleted }));
    if (wantsJson(opts)) {
      const what = opts.prefix === true ? { prefix: key } : { start: key, end: opts.end };
      printJson({ ...what, deleted: r.deleted, atomic: r.atomic ? 'whole' : 'per shard', shards });
      return 0;
    }
    const keys = `deleted ${r.deleted} key${r.deleted === 1n ? '' : 's'}`;
    if (r.atomic) {
      process.stdout.write(`${keys} in shard ${shards[0]?.shard}, atomically (the prefix holds a {tag})\n`);
      return 0;
    }
    const parts = shards.filter((s) => s.deleted > 0n).map((s) => `shard ${s.shard}: ${s.deleted}`);
    process.stdout.write(
      `${keys}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}; each shard's part is atomic, the whole range is not\n`,
    );
    return 0;
  });
}
