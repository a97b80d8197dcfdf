// Elections (client.elect): a lock whose key also holds the leader's value. The token stays the
// key's version at election (later holders have higher ones); proclaim() replaces the value with a
// put under the leader's own lease (a txn's put cannot attach one): unconditional, but only the
// holder writes the key while it exists, and the put fails NOT_FOUND once the lease is gone.
import type { BytesLike } from './bytes.ts';
import { toBytes } from './bytes.ts';
import type { CallOptions } from './kv-types.ts';
import { acquire, LockHandle, type LockHost, LockLostError, type LockOptions } from './lock.ts';
import { encodeLockRecord } from './lock-record.ts';

export class ElectionHandle extends LockHandle {
  /** Gives up leadership (= unlock). */
  resign(opts: CallOptions = {}): Promise<void> {
    return this.unlock(opts);
  }

  /** Replaces the leader's value; LockLostError when leadership is not certainly still ours. */
  async proclaim(value: BytesLike, opts: CallOptions = {}): Promise<void> {
    if (!this.held()) throw new LockLostError(`election ${this.name}: not the leader any more`, 'expired');
    const record = encodeLockRecord({ owner: this.owner, lease: this.lease, value: toBytes(value) });
    this.version = (await this.host.put(this.key, record, { ...opts, lease: this.lease })).version;
  }
}

/** Campaigns for `name` with `value`, waiting until elected (client.elect). */
export function elect(
  host: LockHost,
  name: string,
  value: BytesLike,
  opts: LockOptions = {},
): Promise<ElectionHandle> {
  return acquire(host, name, toBytes(value), opts, (a) => new ElectionHandle(host, name, a));
}
