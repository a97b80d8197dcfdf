// Bookkeeping for "no acknowledged write is lost": every write that returned success is recorded
// (one key per write, so an indeterminate write never makes a check ambiguous) and can be read
// back through any client.
import assert from 'node:assert/strict';
import { bytesToUtf8, type RingkvClient } from '../../src/client/index.ts';
import { inParallel } from './in-parallel.ts';

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

  /**
   * Reads back every acknowledged write (linearizable, unless `serializable`), `parallel` at a time,
   * and compares; the first difference fails it.
   */
  async verify(
    client: RingkvClient,
    opts: { serializable?: boolean; timeoutMs?: number; parallel?: number } = {},
  ): Promise<void> {
    await inParallel([...this.values], opts.parallel ?? 16, async ([key, value]) => {
      const r = await client.get(key, {
        serializable: opts.serializable ?? false,
        timeoutMs: opts.timeoutMs ?? 5000,
      });
      assert.ok(r.found, `acknowledged write lost: ${key} is missing (expected ${value})`);
      assert.equal(bytesToUtf8(r.value), value, `acknowledged write lost: ${key}`);
    });
  }

  /**
   * Scans `prefix` through `client` (every page, linearizable unless `serializable`) and checks that
   * it returns exactly the acknowledged writes under it, in key order.
   */
  async verifyScan(
    client: RingkvClient,
    prefix: string,
    opts: { serializable?: boolean; timeoutMs?: number; limit?: number } = {},
  ): Promise<void> {
    const seen: string[] = [];
    let continuation: Uint8Array | undefined;
    for (let page = 0; page < 10_000; page++) {
      const r = await client.scan({
        prefix,
        limit: opts.limit ?? 100,
        serializable: opts.serializable ?? false,
        timeoutMs: opts.timeoutMs ?? 10_000,
        ...(continuation === undefined ? {} : { continuation }),
      });
      for (const item of r.items) {
        const key = bytesToUtf8(item.key);
        const want = this.values.get(key);
        assert.ok(want !== undefined, `scan returned ${key}, which was never acknowledged`);
        assert.equal(bytesToUtf8(item.value), want, `scan: the value of ${key}`);
        seen.push(key);
      }
      continuation = r.continuation;
      if (continuation === undefined) break;
    }
    const wanted = [...this.values.keys()].filter((k) => k.startsWith(prefix));
    assert.deepEqual(seen, [...wanted].sort(), `scan ${JSON.stringify(prefix)}: keys in order, each once`);
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
