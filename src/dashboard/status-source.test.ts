// The source of /api/status: one fan-out at a time, a recent answer reused, and each member's rates
// from its previous sample (a restart starts over).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberStatus, RequestLoad, StatusResponse } from '../client/index.ts';
import { FRESH_MS, MEMBER_TIMEOUT_MS, type StatusFanOut, StatusSource } from './status-source.ts';

const member = { nodeId: 'n1', clientAddr: 'h:1', raftAddr: 'h:11', state: 'up' };

function load(uptimeMs: number, requests: number): RequestLoad {
  return {
    uptimeMs: BigInt(uptimeMs),
    requests: BigInt(requests),
    failed: 0n,
    latencyBoundsSeconds: [0.001],
    latencyCounts: [BigInt(requests), 0n],
  };
}

function status(l: RequestLoad | undefined): StatusResponse {
  return {
    nodeId: 'n1',
    clusterId: 'c',
    members: [member],
    shards: [],
    leaderPlacement: 'spread',
    alarms: [],
    placement: [],
    replicationFactor: 1,
    wantedMoves: [],
    settings: undefined,
    ...(l === undefined ? {} : { load: l }),
  };
}

/** A fan-out that answers with the next load of `loads`, and counts its calls. */
class FakeFanOut implements StatusFanOut {
  calls = 0;
  timeouts: number[] = [];
  private readonly loads: (RequestLoad | undefined)[];
  release: () => void = () => {};
  gate: Promise<void> = Promise.resolve();

  constructor(loads: (RequestLoad | undefined)[]) {
    this.loads = loads;
  }

  async statusOfEveryMember(o: { readonly timeoutMs: number; readonly memberTimeoutMs: number }) {
    this.calls++;
    this.timeouts.push(o.memberTimeoutMs);
    await this.gate;
    const st = status(this.loads.shift());
    const members: MemberStatus[] = [{ member, status: st }];
    return { cluster: st, members };
  }
}

describe('StatusSource', () => {
  it('requests that arrive during a fan-out share it; an answer younger than FRESH_MS is reused', async () => {
    let now = 0;
    const fake = new FakeFanOut([load(1000, 0), load(2000, 10)]);
    fake.gate = new Promise((r) => {
      fake.release = r;
    });
    const source = new StatusSource(fake, 'n1', () => now);
    const a = source.current();
    const b = source.current();
    fake.release();
    assert.equal(await a, await b);
    assert.equal(fake.calls, 1);
    assert.deepEqual(fake.timeouts, [MEMBER_TIMEOUT_MS]);
    now += FRESH_MS - 1;
    await source.current();
    assert.equal(fake.calls, 1);
    now += 1;
    await source.current();
    assert.equal(fake.calls, 2);
  });

  it("a member's rates come from its previous sample; none at first, none after a restart", async () => {
    let now = 0;
    const fake = new FakeFanOut([load(1000, 0), load(2000, 50), load(3000, 150), load(500, 3), undefined]);
    const source = new StatusSource(fake, 'n1', () => now);
    const rps = async (): Promise<number | null> => {
      now += FRESH_MS;
      return (await source.current()).members[0]?.load?.requestsPerSecond ?? null;
    };
    assert.equal(await rps(), null); // the first sample
    assert.equal(await rps(), 50);
    assert.equal(await rps(), 100);
    assert.equal(await rps(), null); // restarted: uptime went back
    assert.equal(await rps(), null); // a node without metrics reports no load
  });

  it('a failed fan-out rejects, and the next request asks again', async () => {
    let fail = true;
    const fanOut: StatusFanOut = {
      statusOfEveryMember: async () => {
        if (fail) throw new Error('cannot reach any of h:1');
        const st = status(undefined);
        return { cluster: st, members: [{ member, status: st }] };
      },
    };
    const source = new StatusSource(fanOut, 'n1', () => 0);
    await assert.rejects(source.current(), /cannot reach any of h:1/);
    fail = false;
    assert.equal((await source.current()).members.length, 1);
  });
});
