// Watch across the loss of the node serving it, on 3 real `ringkv serve` processes: a watcher of a
// prefix (one stream per shard) is kept while a writer puts, deletes and runs transactions, and the
// node serving the most of its streams is killed with SIGKILL midway (a leader of some shards too,
// when the first endpoint leads any). Every stream it served must resume on another node, and the
// watcher must see every acknowledged write exactly once, each shard's events in log order, and
// nothing that was not written (an indeterminate write may appear, once). Leaving the loop cancels
// the streams on the nodes (ringkv_watches_open drops to 0 with the client still open). The
// compacted case is src/node/watch/watch.test.ts, and on real processes watch-cli.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RingkvError, type WatchEventItem } from '../../src/client/index.ts';
import { metricSum, ProcessCluster, waitUntil } from './harness.ts';

const WRITES = 150;

describe('watch on real processes', { timeout: 120_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({
      extraArgs: ['--request_timeout_ms', '2000'],
    });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('a prefix watcher kept across the SIGKILL of the node serving its streams sees each committed write once, in order', async (t) => {
    const client = c.client();
    const status = await client.status();
    const shards = status.shards.filter((s) => s.shardId !== 0).length;
    const seen: WatchEventItem[] = [];
    const progressed = new Set<number>();
    // The node that last served each shard's stream, and whether the kill has happened.
    const servedBy = new Map<number, string>();
    const servedAfterKill = new Map<number, string>();
    let afterKill = false;
    const it = client
      .watch('w/', { prefix: true, progress: true, progressIntervalMs: 200 })
      [Symbol.asyncIterator]();
    // A failed check must not leave the streams retrying after the cluster is gone.
    t.after(() => it.return?.());
    let watchError: unknown;
    const reading = (async () => {
      try {
        for (;;) {
          const r = await it.next();
          if (r.done === true) return;
          (afterKill ? servedAfterKill : servedBy).set(r.value.shard, r.value.node);
          if (r.value.type === 'progress') progressed.add(r.value.shard);
          else seen.push(r.value);
        }
      } catch (e) {
        watchError = e;
      }
    })();
    await waitUntil('every shard stream opened', 20_000, () => progressed.size === shards || undefined);

    // value text → what was written; acked: the answer came back, with its position when it has one.
    const acked = new Map<string, { key: string; type: 'put' | 'delete'; position?: bigint | undefined }>();
    const maybe = new Set<string>();
    let killed = '';
    for (let i = 0; i < WRITES; i++) {
      if (i === WRITES / 3) {
        // The node serving the most streams (the client opens each on its first endpoint).
        const streams = new Map<string, number>();
        for (const n of servedBy.values()) streams.set(n, (streams.get(n) ?? 0) + 1);
        const busiest = [...streams].sort((a, b) => b[1] - a[1])[0]?.[0];
        const victim = c.nodes.find((n) => n.name === busiest);
        assert.ok(victim !== undefined, `no node served the streams: ${JSON.stringify([...servedBy])}`);
        killed = victim.name;
        await victim.kill('SIGKILL');
        afterKill = true;
      }
      const tag = `v${i}`;
      try {
        if (i % 3 === 0) {
          const r = await client.put(`w/k${i % 7}`, tag);
          acked.set(tag, { key: `w/k${i % 7}`, type: 'put', position: r.version });
        } else if (i % 3 === 1) {
          const key = `w/t${i}`;
          const r = await client.txn({
            compares: [{ key, exists: false }],
            success: [{ put: key, value: tag }],
            failure: [],
          });
          acked.set(tag, { key, type: 'put', position: r.header?.index });
        } else {
          const key = `w/d${i}`;
          await client.put(key, tag);
          const d = await client.delete(key);
          acked.set(tag, { key, type: 'put' });
          if (d.deleted) acked.set(`del:${key}`, { key, type: 'delete' });
        }
      } catch (e) {
        if (!(e instanceof RingkvError)) throw e;
        maybe.add(tag);
      }
    }
    const wanted = [...acked.keys()];
    const seenIds = (): Set<string> =>
      new Set(seen.map((e) => (e.type === 'delete' ? `del:${text(e.key)}` : text(e.value))));
    await waitUntil('the watcher to see every acknowledged write', 30_000, () => {
      if (watchError !== undefined) throw watchError;
      return wanted.every((w) => seenIds().has(w)) || undefined;
    });
    // Every stream the victim served went on elsewhere (a progress within 200 ms of idling).
    const moved = [...servedBy].filter(([, n]) => n === killed).map(([shard]) => shard);
    assert.ok(moved.length > 0, `${killed} served no stream`);
    await waitUntil(
      `the streams of ${killed} to resume on other nodes`,
      30_000,
      () => moved.every((shard) => (servedAfterKill.get(shard) ?? killed) !== killed) || undefined,
    );
    const before = await watchesOpen(c);
    assert.ok(before > 0, `watches open on the running nodes: ${before}`);
    // Leaving the loop (the client still open) cancels the streams: the nodes serve none after.
    await it.return?.();
    await reading;
    assert.equal(watchError, undefined);
    await waitUntil('the nodes to drop the cancelled streams', 10_000, async () =>
      (await watchesOpen(c)) === 0 ? true : undefined,
    );

    // Exactly once: no (shard, position, key, type) twice.
    const ids = seen.map((e) => `${e.shard}/${e.position}/${text(e.key)}/${e.type}`);
    assert.equal(new Set(ids).size, ids.length, `an event was delivered twice (killed ${killed})`);
    // In each shard's order.
    const lastByShard = new Map<number, bigint>();
    for (const e of seen) {
      const last = lastByShard.get(e.shard) ?? 0n;
      assert.ok(e.position >= last, `shard ${e.shard}: position ${e.position} after ${last}`);
      lastByShard.set(e.shard, e.position);
    }
    // Each acknowledged write at its position; nothing that was not written.
    for (const e of seen) {
      assert.ok(text(e.key).startsWith('w/'), `event of key ${text(e.key)} outside the prefix`);
      const id = e.type === 'delete' ? `del:${text(e.key)}` : text(e.value);
      const w = acked.get(id);
      if (w === undefined) {
        assert.ok(maybe.has(id) || e.type === 'delete', `event ${id} of a write never made`);
        continue;
      }
      assert.equal(text(e.key), w.key);
      if (w.position !== undefined)
        assert.equal(e.position, w.position, `${id} at its acknowledged position`);
    }
    console.log(
      `watch: ${seen.length} events over ${lastByShard.size} shards, ${maybe.size} indeterminate writes, ${killed} killed (served ${moved.length} streams)`,
    );
  });
});

/** ringkv_watches_open summed over the running nodes. */
function watchesOpen(c: ProcessCluster): Promise<number> {
  return metricSum(c, 'ringkv_watches_open');
}

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}

describe('watch from a position one replica no longer keeps', { timeout: 120_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--snapshot_entries', '20'] });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('is served by another replica that keeps it (the one where the shard was watched)', async () => {
    const writer = c.client();
    // A watcher of the key: the replica serving it (w) records the key's shard's changes from now on.
    const holder = c.client({ endpoints: [c.nodes[1]?.endpoint as string], routeToLeaders: false });
    const held = holder.watch('cw/k', { progress: true })[Symbol.asyncIterator]();
    const first = await held.next();
    assert.equal(first.done, false);
    const w = c.node((first.value as { node: string }).node);
    const a = c.nodes.find((n) => n !== w) as typeof w;
    const p0 = (await writer.put('cw/k', 'v0')).version;
    // Past the next snapshot of every replica (one each 20 applied entries): an unwatched replica
    // keeps nothing older than its snapshot, so a start at p0 is compacted there.
    for (let i = 1; i <= 45; i++) await writer.put('cw/k', `v${i}`);

    // a is asked first; it refuses p0 as compacted, and the watch goes on to the others.
    const reader = c.client({ endpoints: [a.endpoint, w.endpoint], routeToLeaders: false });
    const it = reader.watch('cw/k', { from: p0 })[Symbol.asyncIterator]();
    try {
      const e = await it.next();
      assert.equal(e.done, false);
      const ev = e.value as WatchEventItem;
      assert.equal(ev.position, p0);
      assert.equal(text(ev.value), 'v0');
      assert.equal(ev.node, w.name, `served by ${w.name}, after ${a.name} refused the start as compacted`);
    } finally {
      await it.return?.();
      await held.return?.();
      await Promise.all([reader, holder, writer].map((x) => x.close({ timeoutMs: 0 })));
    }
  });
});
