// `ringkv txn` and `ringkv del --prefix / --end` as a user runs them: the real `ringkv` program in a
// child process against the in-memory fake cluster (src/client/testing) in this process; and the
// clause syntax, parsed alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeCluster } from '../../client/testing/fake-server.ts';
import { parseCompare, parseOperation, parseTxnJson, TxnSyntaxError, words } from './txn-syntax.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const nodeBin = join(root, 'node_modules', '.bin', 'node');
const mainTs = join(root, 'src', 'cli', 'main.ts');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);
const plainBytes = (s: string) => s;

let cluster: FakeCluster;
let endpoints: string;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function ringkv(args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      nodeBin,
      [mainTs, ...args],
      { cwd: root, timeout: 30_000, env: { ...process.env, RINGKV_ENDPOINTS: endpoints } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

before(async () => {
  cluster = await FakeCluster.start({ nodes: 3, shards: 8 });
  endpoints = cluster.nodes.map((n) => n.addr).join(',');
});

after(async () => {
  await cluster.close();
});

test('clauses: words, JSON strings, each compare kind and operation; bad ones name the clause', () => {
  assert.deepEqual(words(' put  "a b" "say \\"hi\\"" '), ['put', 'a b', 'say "hi"']);
  assert.deepEqual(parseCompare('k = v', plainBytes), { key: 'k', value: 'v' });
  assert.deepEqual(parseCompare('version({u}:n) > 3', plainBytes), { key: '{u}:n', version: 3n, cmp: '>' });
  assert.deepEqual(parseCompare('version("a b)")!=0', plainBytes), { key: 'a b)', version: 0n, cmp: '!=' });
  assert.deepEqual(parseCompare('exists(k)', plainBytes), { key: 'k', exists: true });
  assert.deepEqual(parseCompare('absent("x y")', plainBytes), { key: 'x y', exists: false });
  assert.deepEqual(parseOperation('put k "v w"', '--then', plainBytes), { put: 'k', value: 'v w' });
  assert.deepEqual(parseOperation('del k', '--else', plainBytes), { delete: 'k' });
  assert.deepEqual(parseOperation('get k', '--then', plainBytes), { get: 'k' });
  assert.throws(() => parseCompare('version(k) >= 3', plainBytes), /--if "version\(k\) >= 3": expected/);
  assert.throws(() => parseCompare('k == v', plainBytes), TxnSyntaxError);
  assert.throws(
    () => parseOperation('put k', '--then', plainBytes),
    /--then "put k": expected 'put KEY VALUE'/,
  );
  assert.throws(() => words('put "k v'), /unclosed "/);
  assert.deepEqual(parseTxnJson('{"if": ["exists(k)"], "else": ["get k"]}', plainBytes), {
    compares: [{ key: 'k', exists: true }],
    success: [],
    failure: [{ get: 'k' }],
  });
  assert.throws(() => parseTxnJson('{"when": []}', plainBytes), /unknown field\(s\) when/);
});

test('txn: the then branch with its results, then the else branch; text and JSON', async () => {
  cluster.put(enc('{acct1}:balance'), enc('100'));
  const ok = await ringkv([
    'txn',
    '--if',
    '{acct1}:balance = 100',
    '--if',
    'absent({acct1}:lock)',
    '--then',
    'put {acct1}:balance 90',
    '--then',
    'put {acct1}:log "paid 10"',
    '--then',
    'get {acct1}:balance',
    '--else',
    'get {acct1}:balance',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const lines = ok.stdout.split('\n');
  assert.equal(lines[0], 'succeeded: the --then branch ran');
  assert.match(lines[1] ?? '', /^put "\{acct1\}:balance": OK \(previous version \d+\)$/);
  assert.equal(lines[2], 'put "{acct1}:log": OK (was absent)');
  assert.match(lines[3] ?? '', /^get "\{acct1\}:balance": "90" \(version \d+\)$/);
  assert.equal(dec(cluster.get(enc('{acct1}:log'))?.value), 'paid 10');

  const again = await ringkv([
    'txn',
    '--if',
    '{acct1}:balance = 100',
    '--then',
    'put {acct1}:balance 80',
    '--else',
    'get {acct1}:balance',
    '--else',
    'del {acct1}:missing',
    '--output',
    'json',
  ]);
  assert.equal(again.code, 0, again.stderr);
  const doc = JSON.parse(again.stdout) as { succeeded: boolean; branch: string; results: unknown[] };
  assert.equal(doc.succeeded, false);
  assert.equal(doc.branch, 'else');
  assert.deepEqual(doc.results[1], { op: 'delete', key: '{acct1}:missing', deleted: false });
  assert.deepEqual(Object.keys(doc.results[0] as object), ['op', 'key', 'found', 'value', 'version']);
  assert.equal(dec(cluster.get(enc('{acct1}:balance'))?.value), '90', 'the then branch did not run');
});

test('txn from standard input as JSON', async () => {
  const r = await ringkv(
    ['txn', '-'],
    '{"if": ["absent({u7}:name)"], "then": ["put {u7}:name ada"], "else": ["get {u7}:name"]}',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^succeeded/);
  assert.equal(dec(cluster.get(enc('{u7}:name'))?.value), 'ada');
});

test('txn over two shards exits 1 naming both shards; usage errors exit 2', async () => {
  const first = cluster.shardOfKey('{a}');
  let other = '';
  for (let i = 0; other === ''; i++) if (cluster.shardOfKey(`{b${i}}`) !== first) other = `b${i}`;
  const r = await ringkv(['txn', '--then', 'put {a}:x 1', '--then', `put {${other}}:y 2`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /live in 2 shards: shard \d+ \(key "\{.+\}:."\), shard \d+ \(key "\{.+\}:."\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(cluster.get(enc('{a}:x')), undefined);
  for (const args of [
    ['txn'],
    ['txn', '--if', 'k = v'],
    ['txn', '--then', 'put k'],
    ['txn', '-', '--then', 'get k'],
    ['del', 'a', '--prefix', '--end', 'b'],
  ]) {
    const u = await ringkv(args);
    assert.equal(u.code, 2, `${args.join(' ')}: exit ${u.code}\n${u.stderr}`);
    assert.match(u.stderr, /error/);
  }
  const help = await ringkv(['txn', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}# move 10/);
});

test('del --prefix and del START --end END delete over every shard and say so', async () => {
  for (let i = 0; i < 30; i++) cluster.put(enc(`logs/${String(i).padStart(2, '0')}`), enc('x'));
  cluster.put(enc('logz'), enc('kept'));
  const pre = await ringkv(['del', 'logs/', '--prefix']);
  assert.equal(pre.code, 0, pre.stderr);
  assert.match(
    pre.stdout,
    /^deleted 30 keys \(shard \d+: \d+(, shard \d+: \d+)*\); each shard's part is atomic, the whole range is not\n$/,
  );
  assert.equal(dec(cluster.get(enc('logz'))?.value), 'kept');
  for (const k of ['m1', 'm2', 'm3']) cluster.put(enc(k), enc('x'));
  const range = await ringkv(['del', 'm1', '--end', 'm3', '--output', 'json']);
  assert.equal(range.code, 0, range.stderr);
  const doc = JSON.parse(range.stdout) as { deleted: number | string; atomic: string; shards: unknown[] };
  assert.equal(String(doc.deleted), '2');
  assert.equal(doc.atomic, 'per shard', 'a range goes to every shard');
  assert.equal(doc.shards.length, 8);
  assert.equal(cluster.get(enc('m3')) !== undefined, true);
  for (let i = 0; i < 3; i++) cluster.put(enc(`{cart7}:${i}`), enc('x'));
  const tagged = await ringkv(['del', '{cart7}:', '--prefix']);
  assert.equal(
    tagged.stdout,
    `deleted 3 keys in shard ${cluster.shardOfKey('{cart7}')}, atomically (the prefix holds a {tag})\n`,
  );
  const one = await ringkv(['del', 'm3']);
  assert.equal(one.stdout, 'deleted\n', 'plain del is unchanged');
});
