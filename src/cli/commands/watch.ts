// `ringkv watch KEY|PREFIX`: prints each change of a key (or of every key under a prefix) as it is
// committed, one line per event, until SIGINT or SIGTERM (exit 0, the streams cancelled). The
// client library resumes each shard's stream on another node after a failure, from the last
// position printed + 1, so a line is printed once. A start older than a shard keeps (compacted)
// ends it with exit 1, naming the oldest position; bad input is a usage error (exit 2).
import type { Command } from 'commander';
import { WatchCompactedError, type WatchEventItem, type WatchItem } from '../../client/index.ts';
import {
  argBytes,
  type ConnectionOptions,
  escapeControl,
  showBytes,
  usageError,
  withClient,
} from './client-common.ts';
import { wantsJson } from './output.ts';

type Opts = Record<string, unknown>;

/** Most `SHARD:INDEX` pairs `--from` takes (a cluster has at most 1024 shards). */
const FROM_PAIRS_MAX = 1024;

/**
 * `--from`: one position for every shard (`120`), or `SHARD:INDEX,…` (`3:120,5:88`: shards not
 * named start from now). 0 is "from now" too. A message when the text is neither.
 */
export function parseFrom(text: string): bigint | Map<number, bigint> | string {
  if (/^\d+$/.test(text)) return BigInt(text);
  const pairs = text.split(',').filter((p) => p.trim() !== '');
  if (pairs.length === 0 || pairs.length > FROM_PAIRS_MAX)
    return `--from ${JSON.stringify(text)}: give a position (e.g. 120) or SHARD:INDEX pairs (e.g. 3:120,5:88)`;
  const map = new Map<number, bigint>();
  for (const pair of pairs) {
    const m = /^\s*(\d+):(\d+)\s*$/.exec(pair);
    const shard = Number(m?.[1]);
    if (m === null || !Number.isSafeInteger(shard) || shard < 1)
      return `--from: ${JSON.stringify(pair)} is not SHARD:INDEX (a shard from 1, a position from 0; e.g. 3:120)`;
    if (map.has(shard)) return `--from: shard ${shard} is given twice`;
    map.set(shard, BigInt(m[2] as string));
  }
  return map;
}

/** One event as a JSON line (no indentation: one line is one event). */
function jsonLine(e: WatchEventItem, conn: ConnectionOptions, prevKv: boolean): string {
  const doc: Record<string, unknown> = {
    type: e.type,
    key: showBytes(e.key, conn),
    value: showBytes(e.value, conn),
    shard: e.shard,
    position: e.position.toString(),
  };
  if (prevKv)
    doc.prevKv =
      e.prevKv === undefined
        ? null
        : { value: showBytes(e.prevKv.value, conn), version: e.prevKv.version.toString() };
  return JSON.stringify(doc);
}

/**
 * One event as text: TYPE, KEY, VALUE, SHARD:POSITION (what --from takes back), and with --prev-kv
 * the previous value and version (`-` when the key did not exist), tab-separated; control characters
 * escaped as scan does, so one line is one event.
 */
function textLine(e: WatchEventItem, conn: ConnectionOptions, prevKv: boolean, escaped: () => void): string {
  const field = (b: Uint8Array): string => {
    const x = escapeControl(showBytes(b, conn));
    if (x.escaped) escaped();
    return x.text;
  };
  const cols = [e.type, field(e.key), field(e.value), `${e.shard}:${e.position}`];
  if (prevKv) cols.push(e.prevKv === undefined ? '-' : `${field(e.prevKv.value)}@${e.prevKv.version}`);
  return cols.join('\t');
}

/** Cancels the watch on SIGINT or SIGTERM; returns the function that removes the handlers. */
function stopOnSignals(stop: () => void): () => void {
  const onSignal = (): void => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export function runWatch(key: string, opts: Opts, cmd: Command): Promise<number> {
  const from = typeof opts.from === 'string' ? parseFrom(opts.from) : undefined;
  if (typeof from === 'string') usageError(cmd, from);
  const prefix = opts.prefix === true;
  if (!prefix && key === '')
    usageError(cmd, 'give a KEY, or a PREFIX with --prefix (an empty PREFIX: every key)');
  return withClient(opts, cmd, async (client, conn) => {
    const k = argBytes(key, prefix ? 'PREFIX' : 'KEY', conn, cmd);
    const it = client
      .watch(k, {
        prefix,
        prevKv: opts.prevKv === true,
        progress: true,
        ...(from === undefined ? {} : { from }),
      })
      [Symbol.asyncIterator]();
    let stopping = false;
    const removeHandlers = stopOnSignals(() => {
      stopping = true;
      void it.return?.();
    });
    try {
      // Fail fast (exit 1, with the usual hint) when no node answers, rather than retry unseen.
      const status = await client.status();
      if (stopping) return 0;
      const streams = prefix ? status.shards.filter((g) => g.shardId !== 0).length : 1;
      return await printEvents(it, streams, opts, conn);
    } catch (e) {
      if (stopping) return 0;
      if (!(e instanceof WatchCompactedError)) throw e;
      // One line on stderr; with --output json one JSON line on stdout too (the events' format).
      const message = `watch: ${e.message}`;
      process.stderr.write(`error: ${message}\n`);
      if (wantsJson(opts)) {
        const error = { code: e.code, message, shard: e.shard, oldest: e.oldest.toString() };
        process.stdout.write(`${JSON.stringify({ error })}\n`);
      }
      return 1;
    } finally {
      removeHandlers();
      await it.return?.();
    }
  });
}

/**
 * Prints each event until the iteration ends (a signal cancelled it: 0) or fails (thrown). Once each
 * of the `streams` shard streams has reported its first progress (its backlog sent, live from
 * then on), says so on stderr: a script may wait for that line before it writes.
 */
async function printEvents(
  it: AsyncIterator<WatchItem>,
  streams: number,
  opts: Opts,
  conn: ConnectionOptions,
): Promise<number> {
  const opened = new Set<number>();
  const prevKv = opts.prevKv === true;
  const json = wantsJson(opts);
  let escapedAny = false;
  const onEscaped = (): void => {
    if (!escapedAny)
      process.stderr.write(
        'note: backslashes and control characters in keys or values are shown escaped (\\\\ \\t \\n \\r \\xHH); ' +
          'use --output json or --hex for the exact text or bytes\n',
      );
    escapedAny = true;
  };
  for (;;) {
    const r = await it.next();
    if (r.done === true) return 0;
    const e = r.value;
    if (e.type === 'progress') {
      if (opened.size < streams && !opened.has(e.shard)) {
        opened.add(e.shard);
        if (opened.size === streams)
          process.stderr.write(
            `watching: ${streams === 1 ? 'the stream is' : `all ${streams} shard streams are`} open\n`,
          );
      }
      continue;
    }
    const line = json ? jsonLine(e, conn, prevKv) : textLine(e, conn, prevKv, onEscaped);
    process.stdout.write(`${line}\n`);
  }
}
