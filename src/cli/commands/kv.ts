// The key-value commands: put (--lease: lease.ts), get, del, cas, scan. Each returns its exit code: 0 done, 1 the
// operation failed (or get found no key); usage errors exit 2 through commander.
import type { Command } from 'commander';
import type { CasExpected, RingkvClient, ScanItem } from '../../client/index.ts';
import {
  argBytes,
  type ConnectionOptions,
  escapeControl,
  showBytes,
  usageError,
  withClient,
} from './client-common.ts';
import { printJson, wantsJson } from './output.ts';
import { valueFromInput } from './value-input.ts';

type Opts = Record<string, unknown>;

export function runPut(key: string, value: string | undefined, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client, conn) => {
    const k = argBytes(key, 'KEY', conn, cmd);
    const lease = typeof opts.lease === 'bigint' ? { lease: opts.lease } : {};
    const r = await client.put(k, await valueFromInput(value, opts, conn, cmd), lease);
    if (wantsJson(opts)) printJson({ key, version: r.version });
    else process.stdout.write(`OK (version ${r.version})\n`);
    return 0;
  });
}

export function runGet(key: string, opts: Opts, cmd: Command): Promise<number> {
  if (opts.raw === true && wantsJson(opts))
    usageError(cmd, '--raw writes the bytes alone: not with --output json');
  return withClient(opts, cmd, async (client, conn) => {
    const r = await client.get(argBytes(key, 'KEY', conn, cmd), { serializable: opts.serializable === true });
    if (!r.found) {
      process.stderr.write(`key not found: ${key}\n`);
      if (wantsJson(opts)) printJson({ key, found: false });
      return 1;
    }
    if (wantsJson(opts)) printJson({ key, found: true, value: showBytes(r.value, conn), version: r.version });
    else if (opts.raw === true) process.stdout.write(r.value);
    else process.stdout.write(`${showBytes(r.value, conn)}\n`);
    return 0;
  });
}

export function runDel(key: string, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client, conn) => {
    const r = await client.delete(argBytes(key, 'KEY', conn, cmd));
    if (wantsJson(opts)) {
      printJson({ key, deleted: r.deleted });
      return 0;
    }
    process.stdout.write(r.deleted ? 'deleted\n' : `key not found: ${key} (nothing to delete)\n`);
    return 0;
  });
}

/** The one comparison `cas` was given; anything else is a usage error. */
function casExpectation(opts: Opts, conn: ConnectionOptions, cmd: Command): CasExpected {
  const given = [opts.expect !== undefined, opts.expectAbsent === true, opts.expectVersion !== undefined];
  if (given.filter(Boolean).length !== 1) {
    usageError(cmd, 'cas needs exactly one of --expect OLD, --expect-absent, --expect-version N');
  }
  if (typeof opts.expect === 'string') return { value: argBytes(opts.expect, '--expect', conn, cmd) };
  if (opts.expectAbsent === true) return { absent: true };
  return { version: opts.expectVersion as bigint };
}

export function runCas(key: string, value: string | undefined, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client, conn) => {
    const expected = casExpectation(opts, conn, cmd);
    const del = opts.delete === true;
    const given = value !== undefined || opts.valueFile !== undefined;
    if (del === given) {
      usageError(
        cmd,
        'cas needs a new value (VALUE, - for standard input, or --value-file FILE), or --delete (not both)',
      );
    }
    const newValue = del ? null : await valueFromInput(value, opts, conn, cmd);
    const r = await client.compareAndSwap(argBytes(key, 'KEY', conn, cmd), expected, newValue);
    if (wantsJson(opts)) {
      // The key's state after the operation: the new value, or the current one when not swapped.
      const state = r.found ? { value: showBytes(r.value, conn), version: r.version } : {};
      printJson({ key, succeeded: r.succeeded, found: r.found, ...state });
      return 0;
    }
    if (r.succeeded) {
      process.stdout.write(del ? 'swapped: key deleted\n' : `swapped (version ${r.version})\n`);
    } else if (r.found) {
      process.stdout.write(
        `not swapped: current value is ${showBytes(r.value, conn)} (version ${r.version})\n`,
      );
    } else {
      process.stdout.write('not swapped: the key does not exist\n');
    }
    return 0;
  });
}

/** Pages through the scan until `limit` items or the end (bounded by the limit). */
async function scanUpTo(client: RingkvClient, prefix: Uint8Array | string, limit: number, opts: Opts) {
  const items: ScanItem[] = [];
  let continuation: Uint8Array | undefined;
  do {
    const page = await client.scan({
      prefix,
      limit: limit - items.length,
      keysOnly: opts.keysOnly === true,
      serializable: opts.serializable === true,
      ...(continuation === undefined ? {} : { continuation }),
    });
    items.push(...page.items.slice(0, limit - items.length));
    continuation = page.continuation;
    if (page.items.length === 0) break;
  } while (continuation !== undefined && items.length < limit);
  return { items, more: continuation !== undefined };
}

export function runScan(prefix: string, opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client, conn) => {
    const limit = opts.limit as number;
    const { items, more } = await scanUpTo(client, argBytes(prefix, 'PREFIX', conn, cmd), limit, opts);
    if (opts.output === 'json') {
      const rows = items.map((i) => ({
        key: showBytes(i.key, conn),
        ...(opts.keysOnly === true ? {} : { value: showBytes(i.value, conn) }),
        version: i.version,
      }));
      printJson({ items: rows, more });
    } else {
      let escapedAny = false;
      const field = (bytes: Uint8Array): string => {
        const e = escapeControl(showBytes(bytes, conn));
        escapedAny ||= e.escaped;
        return e.text;
      };
      for (const i of items) {
        const line = opts.keysOnly === true ? field(i.key) : `${field(i.key)}\t${field(i.value)}`;
        process.stdout.write(`${line}\n`);
      }
      if (escapedAny) {
        process.stderr.write(
          'note: backslashes and control characters (tab, newline…) in keys or values are shown escaped ' +
            '(\\\\ \\t \\n \\r \\xHH); use --output json or --hex for the exact text or bytes\n',
        );
      }
      if (more) process.stderr.write(`(stopped at --limit ${limit}; more keys match)\n`);
    }
    return 0;
  });
}
