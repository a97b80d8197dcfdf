// The client's transactions and range deletes against the in-memory fake cluster: results typed
// per operation, the one-shard rule checked before anything is sent, the write retry policy (a
// transaction that may have been applied is never sent again), and range deletes fanned out to
// every shard and summed.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { RingkvClient } from './client.ts';
import { FailedPreconditionError, IndeterminateError, InvalidArgumentError } from './errors.ts';
import { FakeCluster } from './testing/fake-server.ts';

let cluster: FakeCluster;
const clients: RingkvClient[] = [];
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const show = (x: unknown): string => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));

function client(): RingkvClient {
  const c = new RingkvClient({ endpoints: [cluster.nodes[0]!.addr], backoff: { baseMs: 5, maxMs: 40 } });
  clients.push(c);
  return c;
}

/** Two tags whose keys live in different shards. */
function tagsInTwoShards(): [string, string] {
  const first = cluster.shardOfKey('{a}');
  for (let i = 0; i < 1000; i++) if (cluster.shardOfKey(`{b${i}}`) !== first) return ['a', `b${i}`];
  throw new Error('no second shard found');
}

before(async () => {
  cluster = await FakeCluster.start({ nodes: 3, shards: 8 });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close({ timeoutMs: 0 })));
  await cluster.close();
});

beforeEach(() => {
  cluster.calls.length = 0;
  cluster.store.clear();
  for (const n of cluster.nodes) n.faults.length = 0;
});

test('a transaction: the branch that ran, and each operation typed with its key', async () => {
  const c = client();
  const p = await c.put('{u1}:n', '3');
  const r = await c.txn({
    compares: [
      { key: '{u1}:n', version: p.version, cmp: '=' },
      { key: '{u1}:n', value: '3' },
      { key: '{u1}:gone', exists: false },
    ],
    success: [{ put: '{u1}:n', value: '4' }, { get: '{u1}:n' }, { delete: '{u1}:old' }],
    failure: [{ get: '{u1}:n' }],
  });
  assert.equal(r.succeeded, true);
  assert.deepEqual(
    r.results.map((x) =>
      x.op === 'get'
        ? [x.op, text(x.key), text(x.value)]
        : x.op === 'put'
          ? [x.op, text(x.key), x.prevVersion]
          : [x.op, text(x.key), x.deleted],
    ),
    [
      ['put', '{u1}:n', p.version],
      ['get', '{u1}:n', '4'],
      ['delete', '{u1}:old', false],
    ],
  );
  const no = await c.txn({
    compares: [{ key: '{u1}:n', version: p.version, cmp: '=' }],
    success: [{ put: '{u1}:n', value: 'never' }],
    failure: [{ get: '{u1}:n' }],
  });
  assert.equal(no.succeeded, false);
  const got = no.results[0];
  assert.ok(got?.op === 'get' && got.found, show(no.results));
  assert.equal(text(got.value), '4');
});

test('keys of two shards: FailedPreconditionError naming both, and no call sent', async () => {
  const c = client();
  await c.put('warm-up', 'learn the shard table');
  cluster.calls.length = 0;
  const [a, b] = tagsInTwoShards();
  const err = await c
    .txn({
      success: [
        { put: `{${a}}:x`, value: '1' },
        { put: `{${b}}:y`, value: '2' },
      ],
    })
    .then(
      () => assert.fail('ran'),
      (e: unknown) => e,
    );
  assert.ok(err instanceof FailedPreconditionError, String(err));
  const sa = cluster.shardOfKey(`{${a}}`);
  const sb = cluster.shardOfKey(`{${b}}`);
  assert.match(err.message, new RegExp(`shard ${Math.min(sa, sb)} .*shard ${Math.max(sa, sb)} `));
  assert.deepEqual(
    cluster.calls.filter((x) => x.method === 'txn'),
    [],
    'nothing was sent',
  );
  assert.equal(cluster.get(new TextEncoder().encode(`{${a}}:x`)), undefined);
});

test('a transaction that may have been applied is not sent again: IndeterminateError', async () => {
  const c = client();
  await c.put('{t}:k', 'v');
  const leader = cluster.leaderNodeOf(cluster.shardOfKey('{t}'))!;
  for (const n of cluster.nodes) n.fail({ method: 'txn', code: status.UNAVAILABLE, applyFirst: true });
  const err = await c.txn({ success: [{ put: '{t}:k', value: 'once' }] }).then(
    () => assert.fail('answered'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof IndeterminateError, String(err));
  assert.equal(cluster.calls.filter((x) => x.method === 'txn').length, 1, `sent to ${leader.nodeId} once`);
  // A retry-safe refusal (nothing was done) is retried.
  for (const n of cluster.nodes) n.faults.length = 0;
  for (const n of cluster.nodes) n.fail({ method: 'txn', code: status.UNAVAILABLE, retrySafe: true });
  const ok = await c.txn({ success: [{ get: '{t}:k' }] });
  assert.equal(ok.succeeded, true);
});

test('an empty transaction is refused before it is sent', async () => {
  const err = await client()
    .txn({})
    .then(
      () => assert.fail('ran'),
      (e: unknown) => e,
    );
  assert.ok(err instanceof InvalidArgumentError, String(err));
});

test('a range delete goes to every shard once and sums what each deleted', async () => {
  const c = client();
  for (let i = 0; i < 40; i++) await c.put(`p/${i}`, 'v');
  await c.put('q/1', 'v');
  cluster.calls.length = 0;
  const r = await c.deleteRange({ prefix: 'p/' });
  assert.equal(r.deleted, 40n);
  assert.deepEqual(
    r.shards.map((s) => s.shard),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.equal(
    r.shards.reduce((n, s) => n + s.deleted, 0n),
    40n,
  );
  assert.ok(r.shards.filter((s) => s.deleted > 0n).length > 1, show(r.shards));
  assert.equal(cluster.calls.filter((x) => x.method === 'deleteRange').length, 8);
  assert.equal((await c.get('q/1')).found, true);
  const between = await c.deleteRange({ start: 'q/', end: 'q/2' });
  assert.equal(between.deleted, 1n);
  const empty = await c.deleteRange({ prefix: '' }).then(
    () => assert.fail('deleted everything'),
    (e: unknown) => e,
  );
  assert.ok(empty instanceof InvalidArgumentError, String(empty));
});

test('a namespace prefixes the keys of a transaction and of a range delete, and strips them in results', async () => {
  const c = client();
  const app = c.namespace('app/');
  await c.put('app0', 'outside the namespace');
  const r = await app.txn({
    compares: [{ key: '{n}:a', exists: false }],
    success: [{ put: '{n}:a', value: '1' }, { get: '{n}:a' }],
  });
  assert.equal(r.succeeded, true);
  assert.deepEqual(
    r.results.map((x) => text(x.key)),
    ['{n}:a', '{n}:a'],
  );
  assert.equal(text(cluster.get(new TextEncoder().encode('app/{n}:a'))?.value ?? new Uint8Array()), '1');
  await app.put('b', '2');
  const all = await app.deleteRange({ prefix: '' });
  assert.equal(all.deleted, 2n);
  assert.equal((await c.get('app0')).found, true, 'a key one byte past the prefix is outside the namespace');
  await app.put('m', '3');
  const open = await app.deleteRange({ start: 'a' });
  assert.equal(open.deleted, 1n);
  assert.equal((await c.get('app0')).found, true);
});

test('a prefix that holds a whole {tag} is one shard: only it is asked, and the delete is atomic', async () => {
  const c = client();
  for (let i = 0; i < 10; i++) await c.put(`{u5}:item/${i}`, 'v');
  await c.put('{u5', 'no tag: hashed whole');
  cluster.calls.length = 0;
  const r = await c.deleteRange({ prefix: '{u5}:' });
  assert.equal(r.deleted, 10n);
  assert.equal(r.atomic, true);
  assert.deepEqual(
    r.shards.map((s) => s.shard),
    [cluster.shardOfKey('{u5}')],
  );
  assert.equal(cluster.calls.filter((x) => x.method === 'deleteRange').length, 1);
  // '{u5' has no closing brace: its keys are hashed whole, so every shard is asked.
  const open = await c.deleteRange({ prefix: '{u5' });
  assert.equal(open.atomic, false);
  assert.equal(open.shards.length, cluster.shards);
  assert.equal(open.deleted, 1n);
});

test('close() during a range delete lets every shard finish; after close() a range delete is refused', async () => {
  const c = client();
  for (let i = 0; i < 16; i++) await c.put(`cl/${i}`, 'v');
  for (const n of cluster.nodes) n.delayMs = 20;
  try {
    const running = c.deleteRange({ prefix: 'cl/' });
    const closed = c.close();
    const r = await running;
    assert.equal(r.shards.length, cluster.shards, 'every shard was asked');
    assert.equal(r.deleted, 16n);
    await closed;
  } finally {
    for (const n of cluster.nodes) n.delayMs = 0;
  }
  const err = await c.deleteRange({ prefix: 'cl/' }).then(
    () => assert.fail('ran after close'),
    (e: unknown) => e,
  );
  assert.match(String(err), /after close\(\)/);
});
