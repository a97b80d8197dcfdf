// The CLI against one real `ringkv serve` process on 127.0.0.1: values too large for the command
// line from standard input and from a file (byte for byte), scan output that stays one line per key
// whatever the keys hold, `txn` and `del --prefix`, and `cluster leave` of the last voter refused
// at once with the reason.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RingkvError } from '../../src/client/index.ts';
import { type CliRun, ProcessCluster, runCli } from './harness.ts';

/** Larger than Linux's limit on one command-line argument (128 KiB), under the node's 1 MiB. */
const BIG_BYTES = 300 * 1024;

describe('the CLI against a single real node', { timeout: 120_000 }, () => {
  let c: ProcessCluster;
  let endpoint: string;

  const cli = (args: readonly string[], input?: Uint8Array | string): Promise<CliRun> =>
    runCli([...args, '--endpoints', endpoint], input === undefined ? {} : { input });

  before(async () => {
    c = await ProcessCluster.start({ nodes: 1, extraArgs: ['--host', '127.0.0.1'] });
    endpoint = `127.0.0.1:${c.nodes[0]!.port}`;
  });

  after(async () => {
    await c?.cleanup();
  });

  test('a 300 KiB binary value through standard input and through --value-file round-trips byte for byte', async () => {
    const value = randomBytes(BIG_BYTES);
    const tooLong = await cli(['put', 'big', value.toString('hex')]).catch((e: unknown) => e);
    // On the command line it cannot even be passed (E2BIG), which is why - and --value-file exist.
    assert.ok(tooLong instanceof Error || (tooLong as CliRun).code !== 0);

    const viaStdin = await cli(['put', 'big-stdin', '-'], value);
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.match(viaStdin.stdout, /^OK \(version \d+\)\n$/);
    const raw = await cli(['get', 'big-stdin', '--raw']);
    assert.equal(raw.code, 0, raw.stderr);
    assert.ok(raw.stdoutBytes.equals(value), `get --raw: ${raw.stdoutBytes.length} bytes back`);

    const file = join(c.dir, 'value.bin');
    writeFileSync(file, value);
    const viaFile = await cli(['put', 'big-file', '--value-file', file]);
    assert.equal(viaFile.code, 0, viaFile.stderr);
    const hex = await cli(['get', Buffer.from('big-file').toString('hex'), '--hex']);
    assert.equal(hex.code, 0, hex.stderr);
    assert.equal(hex.stdout, `${value.toString('hex')}\n`);

    // cas takes its new value the same ways.
    const version = /version (\d+)/.exec(viaFile.stdout)?.[1];
    const next = randomBytes(BIG_BYTES);
    const cas = await cli(['cas', 'big-file', '--expect-version', String(version), '-'], next);
    assert.equal(cas.code, 0, cas.stderr);
    assert.match(cas.stdout, /^swapped/);
    const after = await cli(['get', 'big-file', '--raw']);
    assert.ok(after.stdoutBytes.equals(next));
  });

  test('both - and --value-file: a usage error (exit 2) that says so, and nothing is written', async () => {
    const file = join(c.dir, 'small.bin');
    writeFileSync(file, 'from-file');
    const r = await cli(['put', 'both', '-', '--value-file', file], 'from-stdin');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /error: the value comes from standard input \(-\) or from --value-file, not both/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const get = await cli(['get', 'both']);
    assert.equal(get.code, 1);
    assert.equal(get.stderr, 'key not found: both\n');
    const cas = await cli(['cas', 'both', '--expect-absent', '-', '--value-file', file], 'x');
    assert.equal(cas.code, 2, cas.stderr);
  });

  test('scan: a key with a newline and a tab stays on one escaped line; --output json and --hex are exact', async () => {
    const key = 'esc/line\nbreak\ttab';
    const value = 'v\tw\nx';
    assert.equal((await cli(['put', key, value])).code, 0);
    assert.equal((await cli(['put', 'esc/z', 'plain'])).code, 0);
    const text = await cli(['scan', 'esc/']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'esc/line\\nbreak\\ttab\tv\\tw\\nx\nesc/z\tplain\n');
    assert.match(text.stderr, /shown escaped/);
    const json = await cli(['scan', 'esc/', '--output', 'json']);
    const doc = JSON.parse(json.stdout) as { items: { key: string; value: string }[]; more: boolean };
    assert.deepEqual(
      doc.items.map((i) => [i.key, i.value]),
      [
        [key, value],
        ['esc/z', 'plain'],
      ],
    );
    const hex = await cli(['scan', Buffer.from('esc/l').toString('hex'), '--hex']);
    assert.equal(hex.stdout, `${Buffer.from(key).toString('hex')}\t${Buffer.from(value).toString('hex')}\n`);
  });

  test('txn with a version compare, then its else branch; keys of two shards refused; del --prefix sums the shards', async () => {
    const put = await cli(['put', '{acct9}:balance', '100']);
    const version = /version (\d+)/.exec(put.stdout)?.[1];
    const args = (v: string) => [
      'txn',
      '--if',
      `version({acct9}:balance) = ${v}`,
      '--then',
      'put {acct9}:balance 90',
      '--then',
      'put {acct9}:log "paid 10"',
      '--else',
      'get {acct9}:balance',
    ];
    const ok = await cli(args(String(version)));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /^succeeded: the --then branch ran\nput "\{acct9\}:balance": OK \(previous version \d+\)\nput "\{acct9\}:log": OK \(was absent\)\n$/,
    );
    const again = await cli([...args(String(version)), '--output', 'json']);
    const doc = JSON.parse(again.stdout) as { succeeded: boolean; results: { value?: string }[] };
    assert.equal(doc.succeeded, false, again.stdout);
    assert.equal(doc.results[0]?.value, '90');
    // 'a' and 'b' hash to different shards of the node's 8.
    const two = await cli(['txn', '--then', 'put a 1', '--then', 'put b 2']);
    assert.equal(two.code, 1, two.stdout);
    assert.match(
      two.stderr,
      /live in 2 shards: shard \d+ \(key "a"\), shard \d+ \(key "b"\)|live in 2 shards: shard \d+ \(key "b"\), shard \d+ \(key "a"\)/,
    );
    assert.equal((await cli(['get', 'a'])).code, 1, 'nothing was written');
    for (let i = 0; i < 20; i++) assert.equal((await cli(['put', `tmp/${i}`, 'x'])).code, 0);
    const del = await cli(['del', 'tmp/', '--prefix']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(
      del.stdout,
      /^deleted 20 keys \(shard \d+: \d+(, shard \d+: \d+)+\); each shard's part is atomic, the whole range is not\n$/,
    );
    const left = await cli(['scan', 'tmp/']);
    assert.equal(left.stdout, '');
  });

  test('cluster leave of the last voter is refused at once, with the reason (exit 1)', async (t) => {
    const r = await cli(['cluster', 'leave', 'node1']);
    t.diagnostic(`refused in ${r.elapsedMs} ms: ${r.stderr.trim()}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: refused: node1 is the last member of the cluster/);
    assert.ok(r.elapsedMs < 3000, `took ${r.elapsedMs} ms`);
    // The node is still serving.
    assert.equal((await cli(['put', 'still', 'here'])).code, 0);
  });

  test("the node's own answer to the last voter leaving, as the client library sees it", async (t) => {
    // The CLI checks first (above); a library caller gets whatever the node answers. Today that is
    // a retry-safe UNAVAILABLE, retried until the deadline; FAILED_PRECONDITION would end it at once.
    const client = c.client({ endpoints: [endpoint] });
    const t0 = Date.now();
    const err = await client.leave('node1', { timeoutMs: 3000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsedMs = Date.now() - t0;
    assert.ok(err instanceof RingkvError, `leave of the last voter did not fail: ${String(err)}`);
    t.diagnostic(`${err.code} (${err.grpcCode}) after ${elapsedMs} ms: ${err.message}`);
    assert.match(err.message, /only voter|last/);
    assert.ok(elapsedMs < 3000 + 1500, `took ${elapsedMs} ms`);
  });
});
