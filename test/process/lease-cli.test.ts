// `ringkv lease` as a user runs it, against three real `ringkv serve` processes: a lease granted for
// 2 s takes the keys put with it when nothing keeps it alive; `lease keep-alive` (a child process,
// killed by pid in cleanup) holds them past several TTLs, `lease revoke` removes
// them at once and the keep-alive then exits 1; a lease of another shard is refused, naming both.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { shardOf, WHOLE_KEY_HASHING } from '../../src/ring/slots.ts';
import { CliChild, ProcessCluster, runCli, sleep, waitUntil, within } from './harness.ts';

/** The serve default: 8 data shards, keys hashed whole (no `{tag}`s). */
const SHARDS = 8;
const shard = (key: string): number => shardOf(Buffer.from(key), SHARDS, WHOLE_KEY_HASHING);

/** The first key `${prefix}N` (N = 0, 1, …) for which `want(its shard)` holds. Bounded. */
function keyWhere(prefix: string, want: (shard: number) => boolean): string {
  for (let i = 0; i < 1000; i++) if (want(shard(`${prefix}${i}`))) return `${prefix}${i}`;
  throw new Error(`no key ${prefix}N of the wanted shard among 1000`);
}

/** A `ringkv lease keep-alive` child (killed by pid in cleanup). */
class KeepAlive extends CliChild {
  constructor(args: readonly string[]) {
    super(['lease', 'keep-alive', ...args]);
  }

  renewals(): number {
    return this.stdout.split('\n').filter((l) => l.includes('kept alive')).length;
  }
}

describe('ringkv lease on real processes', { timeout: 120_000 }, () => {
  let c: ProcessCluster;
  let endpoints: string;
  const children: KeepAlive[] = [];

  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--request_timeout_ms', '2000'] });
    endpoints = c.endpoints.join(',');
  });

  after(async () => {
    for (const k of children) k.kill();
    await c?.cleanup();
  });

  const cli = async (...args: string[]): Promise<string> => {
    const r = await runCli([...args, '--endpoints', endpoints]);
    assert.equal(r.code, 0, `ringkv ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const grant = async (ttl: number, key: string): Promise<string> => {
    const doc = JSON.parse(await cli('lease', 'grant', String(ttl), '--for-key', key, '--output', 'json'));
    assert.equal(doc.ttl, ttl);
    assert.match(doc.id, /^\d+$/);
    return doc.id as string;
  };
  const exists = async (key: string): Promise<boolean> => (await c.client().get(key)).found;

  test('a lease not kept alive takes its keys when its TTL runs out', async () => {
    const a = 'lx-a';
    const b = keyWhere('lx-b', (s) => s === shard(a));
    // Long enough for the three CLI calls below on a loaded machine (each starts in about 0.5 s).
    const id = await grant(5, a);
    await cli('put', a, 'one', '--lease', id);
    await cli('put', b, 'two', '--lease', id);
    const ttl = JSON.parse(await cli('lease', 'ttl', id, '--keys', '--output', 'json'));
    assert.equal(ttl.found, true);
    assert.ok(ttl.remainingMs > 0 && ttl.remainingMs <= 5000, `remaining ${ttl.remainingMs}`);
    assert.deepEqual(ttl.keys, [a, b]);
    assert.equal(await exists(a), true);
    // Bounded: the TTL, a check round and the revoke's commit, with a wide margin.
    await waitUntil('the expired lease to take its keys', 15_000, async () => {
      const gone = !(await exists(a)) && !(await exists(b));
      return gone || undefined;
    });
    const gone = await runCli(['lease', 'ttl', id, '--endpoints', endpoints]);
    assert.equal(gone.code, 1, 'the lease is gone');
  });

  test('lease keep-alive holds the keys past several TTLs; lease revoke removes them at once', async () => {
    // A TTL that outlasts a CLI put and the keep-alive's start on a loaded machine.
    const id = await grant(3, 'ly-a');
    await cli('put', 'ly-a', 'kept', '--lease', id);
    const k = new KeepAlive([id, '--endpoints', endpoints]);
    children.push(k);
    await waitUntil('the first renewal', 10_000, () => k.renewals() >= 1 || undefined);
    await sleep(7500); // 2.5 TTLs
    assert.equal(await exists('ly-a'), true, `keep-alive output:\n${k.stdout}${k.stderr}`);
    assert.ok(k.renewals() >= 4, `renewed ${k.renewals()} times`);

    const revoked = JSON.parse(await cli('lease', 'revoke', id, '--output', 'json'));
    assert.equal(revoked.found, true);
    assert.equal(Number(revoked.deleted), 1);
    assert.equal(await exists('ly-a'), false, 'gone as soon as the revoke answered');
    const exit = await within(k.exited, 10_000);
    assert.equal(exit?.code, 1, `keep-alive exits 1 once the lease is gone: ${k.stderr}`);
    assert.match(k.stderr, /lost/);
  });

  test('a put with a lease of another shard is refused, naming both shards', async () => {
    const id = await grant(5, 'lz-anchor');
    const leaseShard = shard('lz-anchor');
    const other = keyWhere('lz-', (s) => s !== leaseShard);
    const r = await runCli(['put', other, 'v', '--lease', id, '--endpoints', endpoints]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`shard \\d+ and lease ${id} in shard ${leaseShard}`));
    assert.equal(await exists(other), false);
    await cli('lease', 'revoke', id);
  });
});
