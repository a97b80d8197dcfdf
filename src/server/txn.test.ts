// Txn and DeleteRange through a real node's gRPC port (its WAL, Raft and handlers): a transaction
// runs as one entry of one shard, its keys must share that shard (refused FAILED_PRECONDITION,
// naming the shards, before anything is written), and a range delete counts the keys of the shard
// it names. Two nodes, R = 1: each holds only some shards, so the handlers also pass requests on.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import type { TxnOp, TxnOpResult } from '../gen/ringkv/v1/kv.ts';
import { VersionCompare_Op } from '../gen/ringkv/v1/kv.ts';
import { HASH_TAG_HASHING, shardOf } from '../ring/slots.ts';
import { dec, enc } from './test-client.ts';
import { TestCluster, valueWithin } from './testing/harness.ts';

const SHARDS = 4;
const put = (k: string, v: string): TxnOp => ({
  op: { $case: 'put', value: { key: enc(k), value: enc(v), version: 0n } },
  lease: 0n,
});
const get = (k: string): TxnOp => ({ op: { $case: 'get', value: enc(k) }, lease: 0n });
const del = (k: string): TxnOp => ({ op: { $case: 'delete', value: enc(k) }, lease: 0n });
const shardOfKey = (k: string): number => shardOf(enc(k), SHARDS, HASH_TAG_HASHING);

/** Results as plain JSON-able values (bytes as text). */
function plain(rs: readonly TxnOpResult[]): unknown[] {
  return rs.map((r) => {
    const x = r.result;
    if (x?.$case === 'get')
      return { get: x.value.found ? dec(x.value.value) : null, version: x.value.version };
    if (x?.$case === 'put') return { put: x.value.prevVersion };
    return { deleted: x?.value.deleted };
  });
}

/** Keys named `{tag}:n` whose tag lands in `shard`. */
function tagIn(shard: number, avoid = ''): string {
  for (let i = 0; i < 10_000; i++) if (shardOfKey(`{t${i}}`) === shard && `t${i}` !== avoid) return `t${i}`;
  throw new Error(`no tag found in shard ${shard}`);
}

describe('Txn and DeleteRange on real nodes', { timeout: 120_000 }, () => {
  const c = new TestCluster();
  const extra = { shardCount: SHARDS, replicationFactor: 1, rebalanceIntervalMs: 200 };

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'n1', bootstrap: true, extra });
    await c.start({ nodeId: 'n2', joinAddr: c.addr('n1'), extra });
    await valueWithin('two of the four shards moved to n2', 60_000, () => {
      const t = c.node('n1').node.metadata.table;
      const settled =
        t.shards.every((s) => s.move === null) && t.shards.filter((s) => s.voters[0] === 'n2').length === 2;
      return settled ? t : undefined;
    });
  });

  after(async () => {
    await c.stopAll();
  });

  test('a cluster this build creates says it hashes tags', async () => {
    const st = await c.client('n1').status();
    assert.equal(st.settings?.hashTags, true, String(st.settings?.shardCount));
  });

  test('a transaction on tagged keys: compares hold, every operation at one index; then the failure branch', async () => {
    const n1 = c.client('n1');
    // A shard that n2 holds, asked at n1: n1 passes it on.
    const onN2 = c.node('n1').node.metadata.table.shards.find((s) => s.voters[0] === 'n2');
    assert.ok(onN2 !== undefined);
    const tag = tagIn(onN2.shardId);
    const [a, b, cKey] = [`{${tag}}:a`, `{${tag}}:b`, `{${tag}}:c`];
    const pa = await n1.put(a, '1');
    const ok = await n1.txn({
      compares: [
        { key: enc(a), target: { $case: 'value', value: enc('1') } },
        {
          key: enc(a),
          target: { $case: 'version', value: { op: VersionCompare_Op.EQUAL, version: pa.version } },
        },
        { key: enc(b), target: { $case: 'exists', value: false } },
      ],
      success: [put(a, '2'), put(b, 'x'), get(a), del(cKey)],
      failure: [get(a)],
    });
    assert.equal(ok.succeeded, true);
    assert.equal(ok.header?.shardId, onN2.shardId);
    const at = ok.header?.index ?? 0n;
    assert.deepEqual(plain(ok.results), [
      { put: pa.version },
      { put: 0n },
      { get: '2', version: at },
      { deleted: false },
    ]);
    const gb = await c.client('n2').get(b);
    assert.equal(dec(gb.value), 'x');
    assert.equal(gb.version, at, 'both writes at the one entry of the transaction');

    const no = await n1.txn({
      compares: [
        { key: enc(a), target: { $case: 'version', value: { op: VersionCompare_Op.LESS, version: at } } },
      ],
      success: [put(a, 'never')],
      failure: [get(a), get(cKey)],
    });
    assert.equal(no.succeeded, false);
    assert.deepEqual(plain(no.results), [
      { get: '2', version: at },
      { get: null, version: 0n },
    ]);
    assert.equal(dec((await n1.get(a)).value), '2', 'the success branch did not run');
  });

  test('keys of two shards are refused FAILED_PRECONDITION naming both shards, and nothing is written', async () => {
    const n2 = c.client('n2');
    const t1 = tagIn(1);
    const t3 = tagIn(3);
    const err = (await n2
      .txn({ success: [put(`{${t1}}:x`, 'v'), put(`{${t3}}:y`, 'v')] })
      .then(() => assert.fail('a transaction over two shards ran'))
      .catch((e: unknown) => e)) as ServiceError;
    assert.equal(err.code, 9, `status ${err.code}: ${err.details}`);
    assert.match(err.details, /shard 1 \(key "\{t\d+\}:x"\), shard 3 \(key "\{t\d+\}:y"\)/);
    assert.equal((await n2.get(`{${t1}}:x`)).found, false, 'nothing was written');
  });

  test('bad transactions are INVALID_ARGUMENT', async () => {
    const n1 = c.client('n1');
    const empty = (await n1.txn({}).catch((e: unknown) => e)) as ServiceError;
    assert.equal(empty.code, 3, empty.details);
    assert.match(empty.details, /names no key/);
    const noOp = (await n1
      .txn({ success: [{ op: undefined, lease: 0n }] })
      .catch((e: unknown) => e)) as ServiceError;
    assert.equal(noOp.code, 3, noOp.details);
  });

  test('a range delete of one shard deletes the keys of that shard in range and counts them', async () => {
    const n1 = c.client('n1');
    const keys = Array.from({ length: 24 }, (_, i) => `rd/${String(i).padStart(2, '0')}`);
    for (const k of keys) await n1.put(k, 'v');
    await n1.put('rd0', 'outside the prefix');
    const perShard = new Map<number, number>();
    for (const k of keys) perShard.set(shardOfKey(k), (perShard.get(shardOfKey(k)) ?? 0) + 1);
    let total = 0;
    for (let s = 1; s <= SHARDS; s++) {
      const r = await n1.deleteRange({ prefix: enc('rd/'), shard: s });
      assert.equal(Number(r.deleted), perShard.get(s) ?? 0, `shard ${s}`);
      assert.equal(r.header?.shardId, s);
      total += Number(r.deleted);
    }
    assert.equal(total, keys.length);
    const left = await n1.scan({ prefix: enc('rd') });
    assert.deepEqual(
      left.items.map((i) => dec(i.key)),
      ['rd0'],
    );
    // [start, end): only the keys between.
    for (const k of ['m1', 'm2', 'm3']) await n1.put(k, 'v');
    let between = 0;
    for (let s = 1; s <= SHARDS; s++)
      between += Number((await n1.deleteRange({ start: enc('m2'), end: enc('m3'), shard: s })).deleted);
    assert.equal(between, 1);
    assert.equal((await n1.get('m3')).found, true);
    const noShard = (await n1.deleteRange({ prefix: enc('m') }).catch((e: unknown) => e)) as ServiceError;
    assert.equal(noShard.code, 3, noShard.details);
    assert.deepEqual(c.fatalErrors, []);
  });
});
