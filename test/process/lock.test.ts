// Locks on three real `ringkv serve` processes. Contenders in this process take one lock in turn
// while the lock shard's leader is SIGKILLed: the tokens grow in the order the lock was taken, the
// intervals each held it (taken → min(released, held horizon)) never overlap, and a write fenced on
// the lock key's version succeeds for the holder and fails with a token that is no longer current.
// A holder whose lease is revoked by someone else sees `lost`, and the next holder gets a higher
// token. `ringkv lock NAME -- COMMAND` runs COMMAND with the token in its environment, passes its
// exit status on, and a second `ringkv lock` on the name waits for the first. Elections: one leader
// at a time, leader() reads its value, proclaim replaces it, resign hands over to a higher token, and
// a resigned leader cannot proclaim.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LOCK_KEY_PREFIX, type RingkvClient } from '../../src/client/index.ts';
import { shardOf, WHOLE_KEY_HASHING } from '../../src/ring/slots.ts';
import { CliChild, ProcessCluster, runCli, sleep, waitUntil, within } from './harness.ts';

const SHARDS = 8;
const shard = (key: string): number => shardOf(Buffer.from(key), SHARDS, WHOLE_KEY_HASHING);
function keyIn(wanted: number, prefix: string): string {
  for (let i = 0; i < 1000; i++) if (shard(`${prefix}${i}`) === wanted) return `${prefix}${i}`;
  throw new Error(`no key ${prefix}N in shard ${wanted} among 1000`);
}

interface Hold {
  readonly who: number;
  readonly token: bigint;
  readonly takenMs: number;
  releasedMs: number;
  horizonMs: number;
  fenced: boolean | undefined;
  staleRefused: boolean | undefined;
}

describe('locks on real processes', { timeout: 120_000 }, () => {
  let c: ProcessCluster;
  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--request_timeout_ms', '2000'] });
  });
  after(async () => {
    await c?.cleanup();
  });

  test('one holder at a time, tokens grow, fencing holds, across a SIGKILLed leader', async () => {
    const name = 'contended';
    const lockShard = shard(`${LOCK_KEY_PREFIX}${name}`);
    const guarded = keyIn(lockShard, 'guarded-');
    const holds: Hold[] = [];
    const deadline = Date.now() + 9000;
    const contender = async (who: number, client: RingkvClient): Promise<void> => {
      while (Date.now() < deadline) {
        const h = await client.lock(name, { ttlMs: 2000 }).catch(() => undefined);
        if (h === undefined) continue;
        const hold: Hold = {
          who,
          token: h.token,
          takenMs: Date.now(),
          releasedMs: 0,
          horizonMs: 0,
          fenced: undefined,
          staleRefused: undefined,
        };
        holds.push(hold);
        const fence = {
          compares: [{ key: h.key, version: h.token, cmp: '=' as const }],
          success: [{ put: guarded, value: String(h.token) }],
        };
        hold.fenced = (await client.txn(fence).catch(() => undefined))?.succeeded;
        await sleep(50);
        hold.horizonMs = h.horizonMs();
        hold.releasedMs = Date.now();
        await h.unlock().catch(() => {});
        hold.staleRefused =
          (await client.txn(fence).catch(() => undefined))?.succeeded === false ? true : undefined;
      }
    };
    const clients = [c.client(), c.client(), c.client()];
    const running = clients.map((cl, i) => contender(i, cl));
    await sleep(3000);
    const led = await c.leadersByNode();
    const leader = c.nodes.find((n) => led.get(n.name)?.includes(lockShard));
    assert.ok(leader, `a leader of shard ${lockShard}`);
    await leader.kill('SIGKILL');
    const killedAtMs = Date.now();
    await within(Promise.all(running), 60_000);
    assert.ok(holds.length >= 5, `only ${holds.length} acquisitions`);
    assert.ok(
      holds.some((h) => h.takenMs > killedAtMs),
      'the lock was taken again after the kill',
    );
    const byTaken = [...holds].sort((a, b) => a.takenMs - b.takenMs);
    for (let i = 1; i < byTaken.length; i++) {
      const [prev, cur] = [byTaken[i - 1]!, byTaken[i]!];
      assert.ok(cur.token > prev.token, `token ${cur.token} after ${prev.token}`);
      const prevEnd = Math.min(prev.releasedMs, prev.horizonMs);
      assert.ok(
        cur.takenMs >= prevEnd,
        `holder ${cur.who} took it at ${cur.takenMs} before ${prev.who} let go at ${prevEnd}`,
      );
    }
    for (const h of holds)
      assert.notEqual(h.fenced, false, `the holder's fenced write with ${h.token} was refused`);
    assert.ok(
      holds.filter((h) => h.fenced === true).length >= holds.length - 2,
      'fenced writes mostly answered',
    );
    assert.ok(
      holds.some((h) => h.staleRefused === true),
      'a stale token was refused',
    );
    leader.start();
    await c.waitAnswers(leader);
  });

  test('a holder whose lease is revoked sees lost, and the next token is higher', async () => {
    const a = c.client();
    const b = c.client();
    const first = await a.lock('revoked', { ttlMs: 3000 });
    assert.equal(first.held(), true);
    const waiting = b.lock('revoked', { ttlMs: 3000 });
    await b.leaseRevoke(first.lease);
    const lost = await within(first.lost, 5000);
    assert.ok(lost, 'lost settled');
    assert.equal(first.held(), false);
    const second = await within(waiting, 10_000);
    assert.ok(second && second.token > first.token, `${second?.token} > ${first.token}`);
    await second.unlock();
    await first.unlock();
  });

  test('elect: one leader at a time, leader() reads its value, proclaim replaces it, resign hands over', async () => {
    const a = c.client();
    const b = c.client();
    const text = (v: Uint8Array | undefined): string | undefined =>
      v === undefined ? undefined : Buffer.from(v).toString('utf8');
    const ea = await a.elect('e1', 'alpha', { ttlMs: 3000 });
    assert.equal(text((await b.leader('e1'))?.value), 'alpha');
    const pb = b.elect('e1', 'beta', { ttlMs: 3000 });
    assert.equal(
      await within(pb, 1000),
      undefined,
      'a second candidate is not elected while the first leads',
    );
    await ea.proclaim('alpha2');
    assert.equal(text((await b.leader('e1'))?.value), 'alpha2');
    assert.equal(ea.held(), true);
    assert.equal(await within(ea.lost, 300), undefined, 'its own proclaim does not lose the election');
    await ea.resign();
    const eb = await within(pb, 10_000);
    assert.ok(eb !== undefined, 'the second candidate is elected once the first resigned');
    assert.ok(eb.token > ea.token, `${eb.token} > ${ea.token}`);
    assert.equal(text((await a.leader('e1'))?.value), 'beta');
    await assert.rejects(
      ea.proclaim('again'),
      (e: unknown) => e instanceof Error && e.name === 'LockLostError',
    );
    assert.equal(text((await a.leader('e1'))?.value), 'beta', 'a resigned leader cannot proclaim');
    await eb.resign();
    assert.equal(await a.leader('e1'), undefined);
  });

  test('ringkv lock runs the command with the token, passes its status, and serialises', async () => {
    const endpoints = c.endpoints.join(',');
    const script = (ms: number, code: number) =>
      `console.log(JSON.stringify({t:process.env.RINGKV_LOCK_TOKEN,n:process.env.RINGKV_LOCK_NAME,s:Date.now()}));setTimeout(()=>{console.log(JSON.stringify({e:Date.now()}));process.exit(${code})},${ms})`;
    const one = runCli(
      ['lock', 'cli', '--endpoints', endpoints, '--', process.execPath, '-e', script(1500, 7)],
      { timeoutMs: 30_000 },
    );
    await sleep(300);
    const two = runCli(
      ['lock', 'cli', '--endpoints', endpoints, '--', process.execPath, '-e', script(10, 0)],
      { timeoutMs: 30_000 },
    );
    const [r1, r2] = await Promise.all([one, two]);
    assert.equal(r1.code, 7, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    const [s1, e1] = r1.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const [s2] = r2.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(s1.n, 'cli');
    assert.match(s1.t, /^\d+$/);
    assert.match(r1.stderr, new RegExp(`token ${s1.t}`));
    assert.ok(BigInt(s2.t) > BigInt(s1.t), `${s2.t} > ${s1.t}`);
    assert.ok(s2.s >= e1.e, `the second ran at ${s2.s}, before the first ended at ${e1.e}`);
    const usage = await runCli(['lock', 'cli', '--endpoints', endpoints]);
    assert.equal(usage.code, 2, usage.stderr);
  });

  test('ringkv lock sends COMMAND SIGTERM and exits 1 when the lock is lost while it runs', async () => {
    const endpoints = c.endpoints.join(',');
    const command = `process.on('SIGTERM',()=>{console.log('got SIGTERM');process.exit(0)});console.log('ready');setTimeout(()=>{},20000)`;
    const child = new CliChild([
      'lock',
      'lost-while-running',
      '--ttl',
      '3',
      '--output',
      'json',
      '--endpoints',
      endpoints,
      '--',
      process.execPath,
      '-e',
      command,
    ]);
    try {
      await waitUntil(
        'the lock taken and COMMAND ready for SIGTERM',
        20_000,
        () => (child.stderr.includes('"lease"') && child.stdout.includes('ready')) || undefined,
      );
      const taken = JSON.parse(child.stderr.split('\n')[0] ?? '') as { token: string; lease: string };
      await c.client().leaseRevoke(BigInt(taken.lease));
      const exit = await within(child.exited, 15_000);
      assert.equal(exit?.code, 1, child.stderr);
      assert.match(child.stdout, /got SIGTERM/);
      assert.match(child.stderr, /was sent SIGTERM/);
    } finally {
      child.kill();
    }
  });
});
