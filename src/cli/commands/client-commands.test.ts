// The client commands as a user runs them: the real `ringkv` program in a child process, against
// the in-memory fake cluster (src/client/testing) in this process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { FakeCluster } from '../../client/testing/fake-server.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const nodeBin = join(root, 'node_modules', '.bin', 'node');
const mainTs = join(root, 'src', 'cli', 'main.ts');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let cluster: FakeCluster;
let endpoints: string;

/**
 * Runs `ringkv args…` (asynchronously: the fake cluster lives in this process), with `input` on
 * its standard input (closed at once when there is none).
 */
function ringkv(
  args: readonly string[],
  env: Record<string, string> = {},
  input?: Uint8Array | string,
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      nodeBin,
      [mainTs, ...args],
      { cwd: root, timeout: 30_000, env: { ...process.env, RINGKV_ENDPOINTS: endpoints, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {}); // the CLI may exit without reading it (usage errors)
    child.stdin?.end(input);
  });
}

function noStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace on stderr:\n${r.stderr}`);
}

before(async () => {
  cluster = await FakeCluster.start({ nodes: 3, shards: 8 });
  endpoints = cluster.nodes.map((n) => n.addr).join(',');
});

after(async () => {
  await cluster.close();
});

test('put then get prints the value; get of a missing key exits 1 with a message', async () => {
  const put = await ringkv(['put', 'hello', 'world']);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /^OK/);
  const get = await ringkv(['get', 'hello']);
  assert.deepEqual([get.code, get.stdout], [0, 'world\n']);
  const missing = await ringkv(['get', 'nope']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.equal(missing.stderr, 'key not found: nope\n');
});

test('--debug: where the time went on stderr (the shard map, each attempt); stdout unchanged', async () => {
  const plain = await ringkv(['put', 'traced', 'v']);
  const put = await ringkv(['put', 'traced', 'v', '--debug']);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(put.stdout.replace(/version \d+/, ''), plain.stdout.replace(/version \d+/, ''));
  const lines = put.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^debug: \+\d+ ms shard map: status from 127\.0\.0\.1:\d+ \(node\d\) after \d+ ms/);
  assert.match(
    lines.at(-1)!,
    /^debug: \+\d+ ms put "traced": attempt 1 to 127\.0\.0\.1:\d+ \(leader of shard \d+, budget 1000 ms\): answered after \d+ ms$/,
  );
  assert.equal(plain.stderr, '');
});

test('usage errors exit 2 with a message and no stack trace', async () => {
  const cases = [
    ['cas', 'k', 'v'],
    ['cas', 'k', 'v', '--expect', 'a', '--expect-absent'],
    ['get'],
    ['get', 'k', '--timeout-ms', 'soon'],
    ['put', 'k', 'v', '--no-such-flag'],
    ['get', 'zz', '--hex'],
    ['get', 'k', '--endpoints', 'no-port-here'],
    ['scan', '--output', 'xml'],
    ['cluster', 'leader-placement', 'random'],
    ['cluster', 'leader-placement'],
  ];
  for (const args of cases) {
    const r = await ringkv(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /error/, args.join(' '));
    noStack(r);
  }
});

test('put and cas take the value from standard input (-) or --value-file, byte for byte', async () => {
  const bytes = new Uint8Array([0x00, 0xff, 0x0a, 0x41, 0x0d, 0x0a]);
  const viaStdin = await ringkv(['put', 'from-stdin', '-'], {}, bytes);
  assert.equal(viaStdin.code, 0, viaStdin.stderr);
  assert.deepEqual([...(cluster.get(new TextEncoder().encode('from-stdin'))?.value ?? [])], [...bytes]);
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-cli-'));
  try {
    const file = join(dir, 'value.bin');
    writeFileSync(file, bytes);
    const viaFile = await ringkv(['put', 'from-file', '--value-file', file]);
    assert.equal(viaFile.code, 0, viaFile.stderr);
    assert.deepEqual([...(cluster.get(new TextEncoder().encode('from-file'))?.value ?? [])], [...bytes]);
    const hex = await ringkv(['get', Buffer.from('from-file').toString('hex'), '--hex']);
    assert.deepEqual([hex.code, hex.stdout], [0, '00ff0a410d0a\n']);
    const cas = await ringkv(['cas', 'from-file', '--expect-absent', '--value-file', file]);
    assert.match(cas.stdout, /^not swapped/);
    const swapped = await ringkv(
      [
        'cas',
        'from-stdin',
        '--expect-version',
        String(cluster.get(new TextEncoder().encode('from-stdin'))?.version),
        '-',
      ],
      {},
      'new',
    );
    assert.match(swapped.stdout, /^swapped/, swapped.stderr);
    assert.equal(new TextDecoder().decode(cluster.get(new TextEncoder().encode('from-stdin'))?.value), 'new');
    const both = await ringkv(['put', 'k', '-', '--value-file', file], {}, 'x');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /standard input \(-\) or from --value-file, not both/);
    const twice = await ringkv(['put', 'k', 'v', '--value-file', file]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /given twice/);
    const none = await ringkv(['put', 'k']);
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /give the value: VALUE, - to read it from standard input, or --value-file FILE/,
    );
    const missing = await ringkv(['put', 'k', '--value-file', join(dir, 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--value-file: cannot open .*nope.*ENOENT/);
    const casBoth = await ringkv(['cas', 'k', '--expect-absent', '--delete', '--value-file', file]);
    assert.equal(casBoth.code, 2);
    for (const r of [both, twice, none, missing, casBoth]) noStack(r);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--hex: keys and values as hex, in and out', async () => {
  const put = await ringkv(['put', '--hex', '00ff10', 'deadbeef']);
  assert.equal(put.code, 0, put.stderr);
  const stored = cluster.get(new Uint8Array([0x00, 0xff, 0x10]));
  assert.deepEqual([...(stored?.value ?? [])], [0xde, 0xad, 0xbe, 0xef]);
  const get = await ringkv(['get', '00ff10', '--hex']);
  assert.deepEqual([get.code, get.stdout], [0, 'deadbeef\n']);
});

test('cas: swapped, and a failed comparison prints the current value and exits 0', async () => {
  await ringkv(['put', 'c', 'one']);
  const no = await ringkv(['cas', 'c', '--expect', 'zero', 'two']);
  assert.deepEqual(
    [no.code, no.stdout.trim()],
    [0, `not swapped: current value is one (version ${cluster.get(new TextEncoder().encode('c'))?.version})`],
  );
  const yes = await ringkv(['cas', 'c', '--expect', 'one', 'two']);
  assert.equal(yes.code, 0);
  assert.match(yes.stdout, /^swapped/);
  const absent = await ringkv(['cas', 'c2', '--expect-absent', 'new']);
  assert.match(absent.stdout, /^swapped/);
  const del = await ringkv(['del', 'c2']);
  assert.deepEqual([del.code, del.stdout], [0, 'deleted\n']);
});

test('scan prints keys in order, tab-separated, up to --limit', async () => {
  for (const k of ['p/b', 'p/a', 'p/c', 'q/a']) await ringkv(['put', k, `v-${k}`]);
  const r = await ringkv(['scan', 'p/', '--limit', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'p/a\tv-p/a\np/b\tv-p/b\n');
  assert.match(r.stderr, /more keys match/);
});

test('scan: tabs, newlines and backslashes in keys and values are escaped in text; json is exact', async () => {
  const rows: [string, string][] = [
    ['e/a\nb', 'x\ty'],
    ['e/c\td', 'line1\nline2\r\n'],
    ['e/e\\f', 'bell\u0007'],
    ['e/plain', 'v'],
  ];
  for (const [k, v] of rows) assert.equal((await ringkv(['put', k, v])).code, 0);
  const text = await ringkv(['scan', 'e/']);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(
    text.stdout,
    'e/a\\nb\tx\\ty\ne/c\\td\tline1\\nline2\\r\\n\ne/e\\\\f\tbell\\x07\ne/plain\tv\n',
  );
  assert.match(text.stderr, /shown escaped .*--output json or --hex/);
  const keysOnly = await ringkv(['scan', 'e/', '--keys-only']);
  assert.deepEqual(keysOnly.stdout.trim().split('\n'), ['e/a\\nb', 'e/c\\td', 'e/e\\\\f', 'e/plain']);
  const plain = await ringkv(['scan', 'e/p']);
  assert.deepEqual([plain.stdout, plain.stderr], ['e/plain\tv\n', '']);
  const json = await ringkv(['scan', 'e/', '--output', 'json']);
  const doc = JSON.parse(json.stdout) as { items: { key: string; value: string }[]; more: boolean };
  assert.deepEqual(
    doc.items.map((i) => [i.key, i.value]),
    rows,
  );
  assert.equal(doc.more, false);
});

test('cluster status: a table, and --output json with every member and shard', async () => {
  const table = await ringkv(['cluster', 'status']);
  assert.equal(table.code, 0, table.stderr);
  for (const h of ['node', 'address', 'role', 'shards led', 'term', 'commit/applied', 'lag'])
    assert.match(table.stdout, new RegExp(h));
  assert.match(table.stdout, /node3/);
  const json = await ringkv(['cluster', 'status', '--output', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const view = JSON.parse(json.stdout) as {
    shardCount: number;
    nodes: { nodeId: string; role: string; shardsLed: number }[];
  };
  assert.equal(view.shardCount, 8);
  assert.deepEqual(
    view.nodes.map((n) => [n.nodeId, n.role]),
    [
      ['node1', 'voter'],
      ['node2', 'voter'],
      ['node3', 'voter'],
    ],
  );
  assert.equal(
    view.nodes.reduce((a, n) => a + n.shardsLed, 0),
    8,
  );
});

test('no node running: one clear line, exit 1, quickly', async () => {
  const t0 = Date.now();
  const r = await ringkv(['get', 'k', '--endpoints', '127.0.0.1:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: cannot reach any of 127\.0\.0\.1:1 .*is a node running\? .*npm start/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.ok(Date.now() - t0 < 10_000);
});

test('a write whose answer was lost: exit 1 saying it may or may not have happened', async () => {
  for (const n of cluster.nodes)
    n.fail({ method: 'put', code: status.UNAVAILABLE, details: 'leader stepped down' });
  const r = await ringkv(['put', 'lost', 'v']);
  for (const n of cluster.nodes) n.faults.length = 0;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /may or may not have taken effect.*read the key/);
  noStack(r);
});

test('server-side bad input is reported as such (exit 1)', async () => {
  const r = await ringkv(['put', '', 'v']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: invalid request: .*key is empty/);
});

test('cluster join and leave change the members', async () => {
  const join = await ringkv([
    'cluster',
    'join',
    '--node_id',
    'node9',
    '--addr',
    '127.0.0.1:9',
    '--raft_addr',
    '127.0.0.1:19',
  ]);
  assert.equal(join.code, 0, join.stderr);
  assert.match(join.stdout, /members: node1, node2, node3, node9/);
  const leave = await ringkv(['cluster', 'leave', 'node9']);
  assert.equal(leave.code, 0, leave.stderr);
  assert.match(leave.stdout, /members: node1, node2, node3\n/);
});

test('--output json: put, get, del and cas print one document, with the exit statuses of text', async () => {
  const put = await ringkv(['put', 'j/k', 'héllo', '--output', 'json']);
  assert.equal(put.code, 0, put.stderr);
  const version = JSON.parse(put.stdout).version;
  assert.deepEqual(JSON.parse(put.stdout), { key: 'j/k', version });
  assert.ok(Number.isInteger(version) && version > 0);

  const get = await ringkv(['get', 'j/k', '--output', 'json']);
  assert.equal(get.code, 0, get.stderr);
  assert.deepEqual(JSON.parse(get.stdout), { key: 'j/k', found: true, value: 'héllo', version });
  const hex = await ringkv(['get', Buffer.from('j/k').toString('hex'), '--hex', '--output', 'json']);
  assert.equal(JSON.parse(hex.stdout).value, Buffer.from('héllo').toString('hex'));

  const missing = await ringkv(['get', 'j/none', '--output', 'json']);
  assert.equal(missing.code, 1);
  assert.deepEqual(JSON.parse(missing.stdout), { key: 'j/none', found: false });
  assert.equal(missing.stderr, 'key not found: j/none\n');

  const notSwapped = await ringkv(['cas', 'j/k', 'x', '--expect', 'other', '--output', 'json']);
  assert.equal(notSwapped.code, 0, notSwapped.stderr);
  assert.deepEqual(JSON.parse(notSwapped.stdout), {
    key: 'j/k',
    succeeded: false,
    found: true,
    value: 'héllo',
    version,
  });
  const swapped = await ringkv(['cas', 'j/k', '--expect', 'héllo', '--delete', '--output', 'json']);
  assert.deepEqual(JSON.parse(swapped.stdout), { key: 'j/k', succeeded: true, found: false });

  const del = await ringkv(['del', 'j/k', '--output', 'json']);
  assert.deepEqual([del.code, JSON.parse(del.stdout)], [0, { key: 'j/k', deleted: false }]);

  const raw = await ringkv(['get', 'j/k', '--raw', '--output', 'json']);
  assert.equal(raw.code, 2);
  assert.match(raw.stderr, /--raw .* not with --output json/);
});

test('--output json: a failure is one error document on stdout, the line on stderr, exit 1', async () => {
  const r = await ringkv(['put', 'k', 'v', '--endpoints', '127.0.0.1:1', '--output', 'json']);
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.error.code, 'UNAVAILABLE');
  assert.match(doc.error.message, /cannot reach any of 127\.0\.0\.1:1/);
  assert.equal(r.stderr, `error: ${doc.error.message}\n`);
  const bad = await ringkv(['put', '', 'v', '--output', 'json']);
  assert.deepEqual([bad.code, JSON.parse(bad.stdout).error.code], [1, 'INVALID_ARGUMENT']);
});

test('--output json: cluster join and leave; a dry run that finds no table', async () => {
  const join = await ringkv(
    ['cluster', 'join', '--node_id', 'node8', '--addr', '127.0.0.1:8', '--raft_addr', '127.0.0.1:18'].concat([
      '--output',
      'json',
    ]),
  );
  assert.equal(join.code, 0, join.stderr);
  const joined = JSON.parse(join.stdout);
  assert.deepEqual(joined.joined, { nodeId: 'node8', clientAddr: '127.0.0.1:8', raftAddr: '127.0.0.1:18' });
  assert.deepEqual(
    joined.members.map((m: { nodeId: string }) => m.nodeId),
    ['node1', 'node2', 'node3', 'node8'],
  );
  const leave = await ringkv(['cluster', 'leave', 'node8', '--output', 'json']);
  assert.equal(leave.code, 0, leave.stderr);
  const left = JSON.parse(leave.stdout);
  assert.equal(left.left, 'node8');
  assert.deepEqual(
    left.members.map((m: { nodeId: string }) => m.nodeId),
    ['node1', 'node2', 'node3'],
  );
  // The fake cluster has no shard table: the dry run fails, with its line and an error document.
  const dry = await ringkv(['cluster', 'rebalance', '--dry-run', '--output', 'json']);
  assert.equal(dry.code, 1);
  assert.deepEqual(JSON.parse(dry.stdout), {
    error: { code: 'NO_SHARD_TABLE', message: 'no member answered with the shard table' },
  });
  assert.equal(dry.stderr, 'no member answered with the shard table\n');
});
