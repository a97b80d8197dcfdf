import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { ServerError } from './errors.ts';
import { LeaseKeeper, type LeaseLost, type LeaseRenewer } from './lease-keeper.ts';

/** A renewer whose answers the test gives one by one; records when each call was sent. */
class Renewer implements LeaseRenewer {
  readonly sentAtMs: number[] = [];
  private readonly answers: ((r: 'ok' | Error | 'hang') => void)[] = [];
  leaseKeepAlive(): Promise<{ ttlSeconds: number }> {
    this.sentAtMs.push(Date.now());
    return new Promise((resolve, reject) => {
      this.answers.push((r) => {
        if (r === 'ok') resolve({ ttlSeconds: 3 });
        else if (r instanceof Error) reject(r);
      });
    });
  }
  answer(r: 'ok' | Error | 'hang'): void {
    const next = this.answers.shift();
    assert.ok(next !== undefined, 'a renewal is waiting');
    next(r);
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('renews every TTL/3; lost (expired) one TTL after the send of the last renewal that succeeded', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  try {
    const r = new Renewer();
    let lost: LeaseLost | undefined;
    const k = new LeaseKeeper(r, 5n << 48n);
    void k.lost.then((l) => {
      lost = l;
    });
    mock.timers.tick(200); // the first answer comes 200 ms after its send
    r.answer('ok');
    await flush();
    mock.timers.tick(1000); // TTL/3 = 1 s after the answer arrived: the second renewal
    assert.equal(r.sentAtMs.length, 2);
    r.answer('hang');
    // The last good renewal was sent at 1_000_000: lost at 1_003_000, not 3 s after its answer.
    mock.timers.tick(1_003_000 - 1 - Date.now());
    await flush();
    assert.equal(lost, undefined);
    mock.timers.tick(1);
    await flush();
    assert.deepEqual(lost, { reason: 'expired', error: undefined });
    k.stop();
  } finally {
    mock.timers.reset();
  }
});

test('a NOT_FOUND renewal loses the lease at once; stop() ends the renewals', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  try {
    const r = new Renewer();
    const k = new LeaseKeeper(r, 5n << 48n);
    r.answer('ok');
    await flush();
    mock.timers.tick(1000);
    r.answer(new ServerError('gone', { grpcCode: 'NOT_FOUND' }));
    await flush();
    const lost = await k.lost;
    assert.equal(lost.reason, 'notFound');
    const stopped = new LeaseKeeper(r, 5n << 48n);
    stopped.stop();
    r.answer('ok');
    await flush();
    mock.timers.tick(10_000);
    assert.equal(r.sentAtMs.length, 3, 'no renewal after stop()');
  } finally {
    mock.timers.reset();
  }
});
