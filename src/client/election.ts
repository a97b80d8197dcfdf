// Elections (client.elect): a lock whose key also holds the leader's value. The token stays the
// key's version at election (later holders have higher ones); proclaim() replaces the value in a
// transaction that holds only while the key is still as the leader last wrote it (its version),
// with the put attached to the leader's own lease: a key deleted or taken over is never written.
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
    const r = await this.host.txn(
      {
        compares: [{ key: this.key, version: this.version, cmp: '=' }],
        success: [{ put: this.key, value: record, lease: this.lease }],
      },
      opts,
    );
    const index = r.header?.index;
    if (!r.succeeded || index === undefined)
      throw new LockLostError(
        `election ${this.name}: its key changed; not the leader any more`,
        'overwritten',
      );
    this.version = index;
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
