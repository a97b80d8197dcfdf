import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { leaseId, parseLeaseId } from '../../ring/lease-id.ts';
import { ManualClock } from '../manual-clock.ts';
import { LEASE_CHECK_INTERVAL_MS, type LedShard, Lessor } from './lessor.ts';

/** One shard's replicated leases and who leads it, as the lessor's host; revokes apply at once. */
class FakeShard {
  readonly ttls = new Map<number, number>();
  leading = true;
  term = 1;
  readonly revoked: number[] = [];

  host(clock: ManualClock) {
    return {
      clock,
      logger: pino({ level: 'silent' }),
      shardIds: () => [1],
      led: (): LedShard | undefined =>
        this.leading ? { term: this.term, ttls: () => new Map(this.ttls) } : undefined,
      revoke: (_shard: number, index: number): Promise<void> => {
        this.revoked.push(index);
        this.ttls.delete(index);
        return Promise.resolve();
      },
    };
  }
}

function setUp(): { clock: ManualClock; shard: FakeShard; lessor: Lessor } {
  const clock = new ManualClock(1_000_000);
  const shard = new FakeShard();
  const lessor = new Lessor(shard.host(clock));
  lessor.start();
  return { clock, shard, lessor };
}

test('a lease not kept alive is revoked by the leader within a check interval after its TTL', () => {
  const { clock, shard, lessor } = setUp();
  shard.ttls.set(5, 2000);
  clock.advance(LEASE_CHECK_INTERVAL_MS); // the first round sees the grant: deadline = now + TTL
  clock.advance(2000 - 1);
  assert.deepEqual(shard.revoked, []);
  clock.advance(LEASE_CHECK_INTERVAL_MS + 1);
  assert.deepEqual(shard.revoked, [5]);
  lessor.stop();
});

test('keep-alive moves the deadline to now + TTL, and TimeToLive counts down from it', () => {
  const { clock, shard, lessor } = setUp();
  shard.ttls.set(5, 2000);
  const led = (): LedShard => ({ term: shard.term, ttls: () => shard.ttls });
  for (let i = 0; i < 10; i++) {
    assert.equal(lessor.keepAlive(1, led(), 5), 2000);
    clock.advance(1500);
  }
  assert.deepEqual(shard.revoked, [], 'renewed every 1.5 s, a 2 s lease lives on');
  assert.equal(lessor.remainingMs(1, led(), 5), 500);
  assert.equal(lessor.keepAlive(1, led(), 6), undefined, 'no such lease');
  clock.advance(1000);
  assert.deepEqual(shard.revoked, [5]);
  lessor.stop();
});

test('a new leader extends every lease by one TTL before expiring any; a follower expires nothing', () => {
  const { clock, shard, lessor } = setUp();
  shard.ttls.set(5, 2000);
  clock.advance(LEASE_CHECK_INTERVAL_MS);
  // Leadership moves away just before the deadline, and back (a new term) after it passed.
  clock.advance(1900);
  shard.leading = false;
  clock.advance(1000);
  assert.deepEqual(shard.revoked, [], 'a replica that does not lead revokes nothing');
  shard.leading = true;
  shard.term = 2;
  clock.advance(LEASE_CHECK_INTERVAL_MS);
  assert.deepEqual(shard.revoked, [], 'the deadline passed under the old leader, yet the lease is extended');
  clock.advance(2000 - LEASE_CHECK_INTERVAL_MS - 1);
  assert.deepEqual(shard.revoked, [], 'one TTL from the new term');
  clock.advance(2 * LEASE_CHECK_INTERVAL_MS);
  assert.deepEqual(shard.revoked, [5]);
  lessor.stop();
});

test('leadership lost and won back between two rounds (a new term) also extends every lease', () => {
  const { clock, shard, lessor } = setUp();
  shard.ttls.set(5, 2000);
  clock.advance(LEASE_CHECK_INTERVAL_MS);
  clock.advance(1900);
  shard.term = 3; // no round saw this replica follow
  clock.advance(LEASE_CHECK_INTERVAL_MS);
  assert.deepEqual(shard.revoked, []);
  clock.advance(2000);
  assert.deepEqual(shard.revoked, [5]);
  lessor.stop();
});

test('lease ids carry their shard and grant index, and round-trip', () => {
  const id = leaseId({ shard: 3, index: 42 });
  assert.equal(id, (3n << 48n) | 42n);
  assert.deepEqual(parseLeaseId(id), { shard: 3, index: 42 });
  assert.equal(parseLeaseId(42n), undefined, 'shard 0');
  assert.equal(parseLeaseId(3n << 48n), undefined, 'index 0');
  assert.equal(parseLeaseId(1n << 64n), undefined);
});
