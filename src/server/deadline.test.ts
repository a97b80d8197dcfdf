// A request's deadline on this node: the client's grpc-timeout in each of the protocol's units,
// less a margin of 10 % (at most 100 ms), capped by the method's limit; without a well-formed
// grpc-timeout, the limit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deadlineOf } from './deadline.ts';

const NOW_MS = 1_700_000_000_000;
const LIMIT_MS = 5000;

describe('deadlineOf', () => {
  it('reads every grpc-timeout unit', () => {
    const cases: [string, number][] = [
      ['1H', 3_600_000],
      ['1M', 60_000],
      ['2S', 2000],
      ['1500m', 1500],
      ['800000u', 800],
      ['30000000n', 30],
    ];
    for (const [header, clientMs] of cases) {
      const margin = Math.min(100, clientMs * 0.1);
      const expected = NOW_MS + Math.min(LIMIT_MS, clientMs - margin);
      assert.equal(deadlineOf(header, LIMIT_MS, NOW_MS), expected, header);
    }
  });

  it("keeps a margin of 10 % of the client's timeout, at most 100 ms", () => {
    assert.equal(deadlineOf('3S', LIMIT_MS, NOW_MS), NOW_MS + 2900);
    assert.equal(deadlineOf('500m', LIMIT_MS, NOW_MS), NOW_MS + 450);
    assert.equal(deadlineOf('0m', LIMIT_MS, NOW_MS), NOW_MS);
  });

  it("is capped by the method's limit", () => {
    assert.equal(deadlineOf('1H', LIMIT_MS, NOW_MS), NOW_MS + LIMIT_MS);
    assert.equal(deadlineOf('1H', 120_000, NOW_MS), NOW_MS + 120_000);
  });

  it('is the limit without a grpc-timeout or with a malformed one', () => {
    for (const header of [undefined, '', '5', 'S', '-1S', '1.5S', '123456789S', '10s', ['1S', '2S']]) {
      assert.equal(deadlineOf(header, LIMIT_MS, NOW_MS), NOW_MS + LIMIT_MS, JSON.stringify(header));
    }
  });

  it('refuses a limit that is not positive', () => {
    assert.throws(() => deadlineOf('1S', 0, NOW_MS), /limitMs must be positive/);
  });
});
