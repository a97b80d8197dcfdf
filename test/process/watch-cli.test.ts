// `ringkv watch` as a user runs it, against real `ringkv serve` processes: JSON lines (text and hex)
// of a prefix's changes, each once and of the right type at its acknowledged position, kept across
// the SIGKILL of a node; the text form of a key's watch; SIGINT ends each with exit 0. Then the
// compacted start: a node with --snapshot_entries 20 restarted after 40 writes keeps no changes
// before its snapshot, and `watch --from 1` exits 1 naming the oldest position, from which a watch works.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CliChild, ProcessCluster, waitUntil, within } from './harness.ts';

/** A `ringkv watch` child (killed by pid in cleanup). */
class Watcher extends CliChild {
  constructor(args: readonly string[]) {
    super(['watch', ...args]);
  }

  async open(): Promise<void> {
    await waitUntil('the watch to open its streams', 20_000, () => {
      if (this.child.exitCode !== null)
        throw new Error(`watch exited ${this.child.exitCode}: ${this.stderr}`);
      return this.stderr.includes('watching: ') || undefined;
    });
  }
}

interface JsonEvent {
  type: string;
  key: string;
  value: string;
  shard: number;
  position: string;
}

const hex = (s: string): string => Buffer.from(s).toString('hex');

describe('ringkv watch on real processes', { timeout: 180_000 }, () => {
  let c: ProcessCluster;
  const watchers: Watcher[] = [];
  const watch = (args: readonly string[]): Watcher => {
    const w = new Watcher(args);
    watchers.push(w);
    return w;
  };

  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--request_timeout_ms', '2000'] });
  });

  after(async () => {
    for (const w of watchers) w.kill();
    await c?.cleanup();
  });

  test('--prefix --output json (and --hex) prints each change once, typed and positioned, across a SIGKILL; SIGINT exits 0', async () => {
    const endpoints = c.endpoints.join(',');
    const json = watch(['wc/', '--prefix', '--output', 'json', '--endpoints', endpoints]);
    const hexed = watch([hex('wc/'), '--prefix', '--output', 'json', '--hex', '--endpoints', endpoints]);
    const text = watch(['wc/a', '--endpoints', endpoints]);
    await Promise.all([json.open(), hexed.open(), text.open()]);

    const client = c.client();
    // What the watchers must print, in write order: type, key, value, position (when acknowledged).
    const wanted: { type: string; key: string; value: string; position?: bigint }[] = [];
    const put = async (key: string, value: string): Promise<void> => {
      const r = await client.put(key, value);
      wanted.push({ type: 'put', key, value, position: r.version });
    };
    await put('wc/a', 'one');
    await put('wc/b', 'two');
    await client.put('other/x', 'not watched');
    await put('wc/a', 'three');
    assert.equal((await client.delete('wc/b')).deleted, true);
    wanted.push({ type: 'delete', key: 'wc/b', value: '' });
    await waitUntil('the first events', 20_000, () => json.lines().length >= 4 || undefined);

    // The node the CLI lists first goes; its streams resume on the others.
    await c.nodes[0]!.kill('SIGKILL');
    await put('wc/c', 'after the kill');
    await put('wc/a', 'four');
    await waitUntil('every event, in each form', 30_000, () => {
      const done = [json, hexed].every((w) => w.lines().length >= wanted.length);
      return (done && text.lines().length >= 3) || undefined;
    });
    // Late repeats would show here.
    await new Promise((r) => setTimeout(r, 500));
    for (const w of [json, hexed, text]) {
      const exit = await w.stop('SIGINT');
      assert.deepEqual(exit, { code: 0, signal: null }, w.stderr);
    }

    const parsed = json.lines().map((l) => JSON.parse(l) as JsonEvent);
    assert.equal(parsed.length, wanted.length, `printed:\n${json.stdout}`);
    // One shard per key; in each shard, positions strictly increase (so none twice).
    const shardOf = new Map<string, number>();
    const last = new Map<number, bigint>();
    for (const e of parsed) {
      assert.ok(Number.isInteger(e.shard) && e.shard >= 1, `shard ${e.shard}`);
      assert.equal(shardOf.get(e.key) ?? e.shard, e.shard, `${e.key} in one shard`);
      shardOf.set(e.key, e.shard);
      assert.ok(BigInt(e.position) > (last.get(e.shard) ?? 0n), `shard ${e.shard} at ${e.position} again`);
      last.set(e.shard, BigInt(e.position));
    }
    const key = (e: { type: string; key: string; value: string }) => `${e.type} ${e.key} ${e.value}`;
    assert.deepEqual(parsed.map(key).sort(), wanted.map(key).sort());
    for (const w of wanted) {
      if (w.position === undefined) continue;
      const e = parsed.find((p) => key(p) === key(w));
      assert.equal(e?.position, String(w.position), `${key(w)} at its acknowledged position`);
    }
    assert.deepEqual(
      Object.keys(parsed[0] ?? {}),
      ['type', 'key', 'value', 'shard', 'position'],
      'the documented fields, in order',
    );

    const hexParsed = hexed.lines().map((l) => JSON.parse(l) as JsonEvent);
    assert.deepEqual(
      hexParsed.map((e) => `${e.type} ${e.key} ${e.value} ${e.shard}:${e.position}`).sort(),
      parsed.map((e) => `${e.type} ${hex(e.key)} ${hex(e.value)} ${e.shard}:${e.position}`).sort(),
    );

    // Resuming one shard with SHARD:INDEX prints that shard's events from there on (the other
    // shards start from now: nothing more is written).
    const a0 = parsed.find((e) => e.key === 'wc/a');
    assert.ok(a0 !== undefined);
    const resumed = watch([
      'wc/',
      '--prefix',
      '--output',
      'json',
      '--from',
      `${a0.shard}:${a0.position}`,
      '--endpoints',
      c.endpoints.slice(1).join(','),
    ]);
    await resumed.open();
    const fromThere = parsed.filter((e) => e.shard === a0.shard && BigInt(e.position) >= BigInt(a0.position));
    await waitUntil(
      'the resumed shard',
      10_000,
      () => resumed.lines().length >= fromThere.length || undefined,
    );
    assert.deepEqual(await resumed.stop('SIGINT'), { code: 0, signal: null }, resumed.stderr);
    assert.deepEqual(
      resumed.lines().map((l) => JSON.parse(l) as JsonEvent),
      fromThere,
    );

    // The key's watch, as text: TYPE, KEY, VALUE, SHARD:POSITION.
    const a = parsed
      .filter((e) => e.key === 'wc/a')
      .map((e) => `put\twc/a\t${e.value}\t${e.shard}:${e.position}`);
    assert.deepEqual(text.lines(), a);
  });
});

describe('ringkv watch from a compacted position', { timeout: 120_000 }, () => {
  let c: ProcessCluster;
  const watchers: Watcher[] = [];

  before(async () => {
    c = await ProcessCluster.start({ nodes: 1, extraArgs: ['--snapshot_entries', '20'] });
  });

  after(async () => {
    for (const w of watchers) w.kill();
    await c?.cleanup();
  });

  test('--from 1 past a snapshot exits 1 naming the oldest position; from the oldest it watches', async () => {
    const node = c.nodes[0]!;
    const written: { value: string; version: bigint }[] = [];
    const putAll = async (from: number, to: number): Promise<void> => {
      const client = c.client();
      for (let i = from; i < to; i++)
        written.push({ value: `v${i}`, version: (await client.put('cz/k', `v${i}`)).version });
      await client.close({ timeoutMs: 0 });
    };
    await putAll(0, 40);
    // The restarted replica knows no change before its snapshot (the ring starts after it). Where
    // the last snapshot fell depends on timing (one may still be under way when the next is due),
    // so writes after the restart make sure the oldest position has a backlog to replay.
    await node.stop();
    node.start();
    await c.waitAnswers(node);
    await putAll(40, 45);
    const version = written.at(-1)!.version;

    const w = new Watcher(['cz/k', '--from', '1', '--output', 'json', '--endpoints', node.endpoint]);
    watchers.push(w);
    const exit = await within(w.exited, 20_000);
    assert.deepEqual(exit, { code: 1, signal: null }, w.stderr);
    const err = (
      JSON.parse(w.stdout) as { error: { code: string; shard: number; oldest: string; message: string } }
    ).error;
    assert.equal(err.code, 'WATCH_COMPACTED');
    const oldest = BigInt(err.oldest);
    assert.ok(oldest > 1n && oldest <= version + 1n, `oldest ${oldest}, last write at ${version}`);
    assert.ok(Number.isInteger(err.shard) && err.shard >= 1, `the error names the key's shard: ${err.shard}`);
    assert.match(w.stderr, new RegExp(`^error: watch: .*compacted.*oldest position .* is ${oldest}\\b`));

    // The SHARD:INDEX form, as the error's shard and oldest give it.
    const from = new Watcher([
      'cz/k',
      '--from',
      `${err.shard}:${oldest}`,
      '--output',
      'json',
      '--endpoints',
      node.endpoint,
    ]);
    watchers.push(from);
    await from.open();
    const values = (): string[] => from.lines().map((l) => (JSON.parse(l) as JsonEvent).value);
    const backlog = written.filter((w) => w.version >= oldest).map((w) => w.value);
    assert.ok(backlog.includes('v44'), `the writes after the restart are past the oldest ${oldest}`);
    await waitUntil(
      'the backlog from the oldest position',
      20_000,
      () => values().includes('v44') || undefined,
    );
    assert.deepEqual(values(), backlog, from.stdout);
    assert.deepEqual(await from.stop('SIGTERM'), { code: 0, signal: null }, from.stderr);
  });
});
