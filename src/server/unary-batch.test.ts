// The batch wire between the client-API worker and the node's thread: what goes in comes out, in
// order, however many entries and however large, and a batch cut short is refused, not misread.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReplyBatchWriter, RequestBatchWriter, readReplies, readRequests } from './unary-batch.ts';

const bytes = fc.uint8Array({ maxLength: 70_000 });

describe('unary batches', () => {
  it('carry requests through unchanged, in order, across several takes', () => {
    const request = fc.record({
      id: fc.nat({ max: 2 ** 32 - 1 }),
      pathIndex: fc.nat({ max: 65535 }),
      forwarded: fc.boolean(),
      deadlineMs: fc.oneof(
        fc.constant(Number.POSITIVE_INFINITY),
        fc.double({ min: 0, max: 1e13, noNaN: true }),
      ),
      message: bytes,
    });
    const w = new RequestBatchWriter();
    fc.assert(
      fc.property(fc.array(request, { maxLength: 20 }), (reqs) => {
        for (const r of reqs) w.add(r);
        assert.equal(w.count, reqs.length);
        const got = readRequests(w.take());
        assert.equal(w.count, 0);
        assert.deepEqual(
          got.map((r) => ({ ...r, message: [...r.message] })),
          reqs.map((r) => ({ ...r, message: [...r.message] })),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('carry replies and statuses with their details and metadata', () => {
    const reply = fc.oneof(
      fc.record({ code: fc.constant(0 as const), framed: bytes }),
      fc.record({
        code: fc.integer({ min: 1, max: 16 }),
        details: fc.string({ unit: 'grapheme' }),
        trailers: fc.dictionary(fc.stringMatching(/^[a-z-]{1,20}$/), fc.string()),
      }),
    );
    const w = new ReplyBatchWriter();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), reply), { maxLength: 20 }), (replies) => {
        for (const [id, r] of replies) w.add(id, r);
        const got = readReplies(w.take());
        // fast-check's records have no prototype; compare plain copies.
        const norm = (r: object) =>
          'framed' in r
            ? { ...r, framed: [...(r.framed as Uint8Array)] }
            : { ...r, trailers: { ...(r as { trailers: object }).trailers } };
        assert.deepEqual(
          got.map((g) => [g.id, norm(g.reply)]),
          replies.map(([id, r]) => [id, norm(r)]),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a batch cut short', () => {
    const w = new RequestBatchWriter();
    w.add({ id: 1, pathIndex: 0, forwarded: false, deadlineMs: 5, message: new Uint8Array(100) });
    const whole = w.take();
    assert.equal(readRequests(whole).length, 1);
    assert.throws(() => readRequests(whole.slice(0, whole.byteLength - 1)), /cut short/);
    assert.throws(() => readRequests(whole.slice(0, 10)), /cut short/);
  });
});
