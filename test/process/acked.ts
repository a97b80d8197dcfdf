// Bookkeeping for "no acknowledged write is lost": every write that returned success is recorded
// (one key per write, so an indeterminate write never makes a check ambiguous) and can be read
// back through any client.
import assert from 'node:assert/strict';
import { bytesToUtf8, type RingkvClient } from '../../src/client/index.ts';

export class AckedWrites {
  private readonly values = new Map<string, string>();

  get size(): number {
    return this.values.size;
  }

  /** Puts `key` = `value` and records it once acknowledged (throws what the put throws). */
  async put(client: RingkvClient, key: string, value: string, timeoutMs = 5000): Promise<void> {
    await client.put(key, value, { timeoutMs });
    this.values.set(key, value);
  }

  /** Reads back every acknowledged write (linearizable, unless `serializable`) and compares. */
  async verify(
    client: RingkvClient,
    opts: { serializable?: boolean; timeoutMs?: number } = {},
  ): Promise<void> {
    for (const [key, value] of this.values) {
      const r = await client.get(key, {
        serializable: opts.serializable ?? false,
        timeoutMs: opts.timeoutMs ?? 5000,
      });
      assert.ok(r.found, `acknowledged write lost: ${key} is missing (expected ${value})`);
      assert.equal(bytesToUtf8(r.value), value, `acknowledged write lost: ${key}`);
    }
  }

  /** Like verify, but returns false instead of failing (for waiting until a replica caught up). */
  async matches(
    client: RingkvClient,
    opts: { serializable?: boolean; timeoutMs?: number } = {},
  ): Promise<boolean> {
    try {
      await this.verify(client, opts);
      return true;
    } catch {
      return false;
    }
  }
}
