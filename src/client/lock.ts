// Locks and elections on leases, client-side (client.lock, client.elect). One key per lock
// (`__ringkv/lock/NAME`, lock-record.ts) and one lease per acquisition, granted for that key so
// both live in one shard. Taking it is one transaction: "the key is absent → put OWNER attached to
// the lease" (a transaction's put attaches a lease as a put does), so the key exists only while
// its holder's lease does, and the fencing token is that entry's index, the key's version: a later
// holder of the key always has a higher one. A contender waits by watching the key from the
// version it saw + 1, at most until the holder's lease could have run out, then looks again.
import { randomBytes } from 'node:crypto';
import type { BytesLike } from './bytes.ts';
import { CancelledError, IndeterminateError, InvalidArgumentError, RingkvError } from './errors.ts';
import type {
  CallOptions,
  GetResult,
  LeaseGrantOptions,
  LeaseGrantResult,
  LeaseTimeToLiveResult,
} from './kv-types.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import { decodeLockRecord, encodeLockRecord, lockKey } from './lock-record.ts';
import type { TxnResult, TxnSpec } from './txn.ts';
import type { WatchItem, WatchOptions } from './watch.ts';

/** What locks need of the client. */
export interface LockHost {
  leaseGrant(ttlSeconds: number, opts: LeaseGrantOptions): Promise<LeaseGrantResult>;
  leaseRevoke(id: bigint, opts?: CallOptions): Promise<{ found: boolean }>;
  leaseTimeToLive(id: bigint, opts?: CallOptions): Promise<LeaseTimeToLiveResult>;
  keepAlive(id: bigint): LeaseKeeper;
  get(key: BytesLike, opts?: CallOptions): Promise<GetResult>;
  txn(spec: TxnSpec, opts?: CallOptions): Promise<TxnResult>;
  watch(key: BytesLike, opts: WatchOptions): AsyncIterable<WatchItem>;
}

export interface LockOptions {
  /** The lease's TTL (rounded up to whole seconds, at least 1 s): how long a dead holder blocks others. */
  readonly ttlMs?: number;
  /** Stops waiting for the lock (CancelledError); the lease granted for it is revoked. */
  readonly signal?: AbortSignal;
}

/** Why a held lock can no longer be counted on. */
export type LockLostReason = 'expired' | 'notFound' | 'deleted' | 'overwritten';

/** The lock was lost (its lease expired or was revoked, or its key deleted or taken over). */
export class LockLostError extends RingkvError {
  override readonly name = 'LockLostError';
  override readonly code = 'LOCK_LOST';
  readonly reason: LockLostReason;
  constructor(message: string, reason: LockLostReason, cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.reason = reason;
  }
}

const DEFAULT_TTL_MS = 10_000;
/** A contender looks at the key again at least this often, whatever the holder's lease says. */
const RECHECK_MS_MAX = 5_000;
const RECHECK_MS_MIN = 100;

export class LockHandle {
  readonly name: string;
  readonly key: string;
  /** The fencing token: the lock key's version when taken; a later holder's is higher. */
  readonly token: bigint;
  readonly lease: bigint;
  /** Settles (never rejects) once the lock is lost; stays pending after unlock(). */
  readonly lost: Promise<LockLostError>;
  protected readonly host: LockHost;
  protected readonly owner: string;
  /** The key's version as we last wrote it (the token, until an election's proclaim). */
  protected version: bigint;
  private readonly keeper: LeaseKeeper;
  /** Lower bound of the leader's deadline for the lease, before the keeper's first renewal. */
  private readonly grantHorizonMs: number;
  private settle: (e: LockLostError) => void = () => {};
  private lostError: LockLostError | undefined;
  private watchStop: (() => void) | undefined;
  /** Invariant: once true, lost never settles and nothing more is sent but unlock's own calls. */
  private released = false;

  constructor(
    host: LockHost,
    name: string,
    acquired: {
      owner: string;
      token: bigint;
      lease: bigint;
      keeper: LeaseKeeper;
      grantSentAtMs: number;
      ttlMs: number;
    },
  ) {
    this.host = host;
    this.name = name;
    this.key = lockKey(name);
    this.owner = acquired.owner;
    this.token = acquired.token;
    this.version = acquired.token;
    this.lease = acquired.lease;
    this.keeper = acquired.keeper;
    this.grantHorizonMs = acquired.grantSentAtMs + acquired.ttlMs;
    this.lost = new Promise((resolve) => {
      this.settle = resolve;
    });
    void this.keeper.lost.then((l) =>
      this.lose(new LockLostError(`lock ${name}: lease ${this.lease} ${l.reason}`, l.reason, l.error)),
    );
    this.watchKey();
  }

  /**
   * Whether the lock is certainly still ours: no loss seen, and now is before the horizon (the last
   * successful keep-alive's send time + TTL), before which the leader cannot expire the lease. A
   * process that may have been paused checks this right before acting, and fences its writes.
   */
  held(): boolean {
    return !this.released && this.lostError === undefined && Date.now() < this.horizonMs();
  }

  /** The time (ms since the epoch) before which the lease cannot have expired at its leader. */
  horizonMs(): number {
    return Math.max(this.keeper.horizonMs ?? 0, this.grantHorizonMs);
  }

  /**
   * Releases the lock: deletes the key if it is still as we wrote it, revokes the lease, stops the
   * keep-alives and the watch. Safe to call after the lock was lost (it then deletes nothing).
   */
  async unlock(opts: CallOptions = {}): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.watchStop?.();
    try {
      await this.host.txn(
        { compares: [{ key: this.key, version: this.version, cmp: '=' }], success: [{ delete: this.key }] },
        opts,
      );
      await this.host.leaseRevoke(this.lease, opts);
    } finally {
      this.keeper.stop();
    }
  }

  protected lose(e: LockLostError): void {
    if (this.released || this.lostError !== undefined) return;
    this.lostError = e;
    this.watchStop?.();
    this.keeper.stop();
    this.settle(e);
  }

  /** Any change of the key after our put that is not ours means the lock is gone. */
  private watchKey(): void {
    const it = this.host.watch(this.key, { from: this.version + 1n })[Symbol.asyncIterator]();
    this.watchStop = () => void it.return?.();
    const loop = async (): Promise<void> => {
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        const ev = r.value;
        if (ev.type === 'progress') continue;
        if (ev.type === 'delete') {
          this.lose(new LockLostError(`lock ${this.name}: its key was deleted at ${ev.position}`, 'deleted'));
          return;
        }
        if (decodeLockRecord(ev.value)?.owner !== this.owner) {
          this.lose(
            new LockLostError(`lock ${this.name}: its key was overwritten at ${ev.position}`, 'overwritten'),
          );
          return;
        }
      }
    };
    loop().catch((e: unknown) => {
      // A watch that cannot go on (compacted, the client closed) no longer proves the lock is ours.
      this.lose(new LockLostError(`lock ${this.name}: its watch failed: ${String(e)}`, 'deleted', e));
    });
  }
}

/** Takes lock (or election) `name`, waiting while someone else holds it. */
export async function acquire<H extends LockHandle>(
  host: LockHost,
  name: string,
  value: Uint8Array,
  opts: LockOptions,
  make: (acquired: ConstructorParameters<typeof LockHandle>[2]) => H,
): Promise<H> {
  if (name === '') throw new InvalidArgumentError('a lock needs a name');
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new InvalidArgumentError(`lock ${name}: ttlMs ${ttlMs} is not > 0`);
  const ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
  const key = lockKey(name);
  const owner = randomBytes(16).toString('hex');
  const grantSentAtMs = Date.now();
  const grant = await host.leaseGrant(ttlSeconds, { key, ...signalOpt(opts.signal) });
  const keeper = host.keepAlive(grant.id);
  const record = encodeLockRecord({ owner, lease: grant.id, value });
  try {
    const token = await claim(host, key, owner, grant.id, record, keeper, opts.signal);
    return make({ owner, token, lease: grant.id, keeper, grantSentAtMs, ttlMs: ttlSeconds * 1000 });
  } catch (e) {
    keeper.stop();
    await host.leaseRevoke(grant.id).catch(() => {});
    throw e;
  }
}

function signalOpt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

async function claim(
  host: LockHost,
  key: string,
  owner: string,
  lease: bigint,
  record: Uint8Array,
  keeper: LeaseKeeper,
  signal: AbortSignal | undefined,
): Promise<bigint> {
  let lost: LockLostError | undefined;
  void keeper.lost.then((l) => {
    lost = new LockLostError(`lock ${key}: lease ${lease} ${l.reason} while waiting`, l.reason, l.error);
  });
  for (;;) {
    if (signal?.aborted === true) throw new CancelledError(`lock ${key}: cancelled while waiting`);
    if (lost !== undefined) throw lost;
    const seen = await claimOnce(host, key, owner, lease, record, signal);
    if (typeof seen === 'bigint') return seen;
    if (seen !== undefined) await waitForRelease(host, key, seen, signal);
  }
}

/** One try: the token (the key's version) when we took the key, else what holds it (undefined: gone). */
async function claimOnce(
  host: LockHost,
  key: string,
  owner: string,
  lease: bigint,
  record: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<bigint | { version: bigint; lease: bigint | undefined } | undefined> {
  let r: TxnResult;
  try {
    r = await host.txn(
      {
        compares: [{ key, exists: false }],
        success: [{ put: key, value: record, lease }],
        failure: [{ get: key }],
      },
      signalOpt(signal),
    );
  } catch (e) {
    if (!(e instanceof IndeterminateError)) throw e;
    // The transaction may have taken effect: the key tells (its owner is ours only if it did).
    const now = await host.get(key);
    if (!now.found) return undefined;
    const rec = decodeLockRecord(now.value);
    if (rec?.owner === owner) return now.version;
    return { version: now.version, lease: rec?.lease };
  }
  if (r.succeeded) {
    const index = r.header?.index;
    if (index === undefined || index === 0n) throw new Error(`lock ${key}: the txn answered no index`);
    return index;
  }
  const got = r.results[0];
  if (got?.op !== 'get') throw new Error(`lock ${key}: the txn's failure branch answered ${got?.op}`);
  if (!got.found) return undefined;
  return { version: got.version, lease: decodeLockRecord(got.value)?.lease };
}

/**
 * Waits until the key changes after `seen` (a watch from seen.version + 1), or until the holder's
 * lease could have run out (its time to live, asked of the shard's leader; gone: look again now).
 */
async function waitForRelease(
  host: LockHost,
  key: string,
  seen: { version: bigint; lease: bigint | undefined },
  signal: AbortSignal | undefined,
): Promise<void> {
  let waitMs = RECHECK_MS_MAX;
  if (seen.lease !== undefined) {
    const ttl = await host.leaseTimeToLive(seen.lease, signalOpt(signal));
    if (!ttl.found) return;
    waitMs = Math.min(RECHECK_MS_MAX, Math.max(RECHECK_MS_MIN, ttl.remainingMs + RECHECK_MS_MIN));
  }
  const it = host.watch(key, { from: seen.version + 1n })[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => void it.return?.();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    timer = setTimeout(stop, waitMs);
    for (;;) {
      const r = await it.next();
      if (r.done === true || r.value.type !== 'progress') return;
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
    stop();
  }
}

/** A lock on `name` (client.lock). */
export function lock(host: LockHost, name: string, opts: LockOptions = {}): Promise<LockHandle> {
  return acquire(host, name, new Uint8Array(0), opts, (a) => new LockHandle(host, name, a));
}

/** The value a lock or election key holds now, with its version; undefined when nobody holds it. */
export async function holderOf(
  host: LockHost,
  name: string,
  opts: CallOptions = {},
): Promise<{ value: Uint8Array; version: bigint } | undefined> {
  const r = await host.get(lockKey(name), opts);
  if (!r.found) return undefined;
  const rec = decodeLockRecord(r.value);
  return rec === undefined ? undefined : { value: rec.value, version: r.version };
}
