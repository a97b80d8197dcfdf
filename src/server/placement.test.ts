// Leader placement over real gRPC: a cluster bootstrapped with 'pack' puts every shard's leader on
// the metadata leader; SetLeaderPlacement (sent to a follower, so it is forwarded) switches the
// whole cluster to 'spread' and back; when the packed leader stops, the shards follow the next
// metadata leader; an unknown placement is refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { StatusResponse } from '../gen/ringkv/v1/kv.ts';
import type { TestClient } from './test-client.ts';
import { eventually, TestCluster } from './testing/harness.ts';

const NODES = ['n1', 'n2', 'n3'];

/** Data shards led per node, as the given status reports it. */
function ledBy(st: StatusResponse): Map<string, number> {
  const led = new Map<string, number>();
  for (const s of st.shards) if (s.shardId !== 0) led.set(s.leader, (led.get(s.leader) ?? 0) + 1);
  return led;
}

describe('leader placement', { timeout: 90_000 }, () => {
  const c = new TestCluster();
  const extra = { balanceIntervalMs: 200, shardCount: 6 };
  let running = [...NODES];
  const clients = new Map<string, TestClient>();
  const cl = (id: string): TestClient => {
    const have = clients.get(id);
    if (have !== undefined) return have;
    const made = c.client(id);
    clients.set(id, made);
    return made;
  };

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'n1', bootstrap: true, extra: { ...extra, leaderPlacement: 'pack' } });
    await c.start({ nodeId: 'n2', joinAddr: c.addr('n1'), extra });
    await c.start({ nodeId: 'n3', joinAddr: c.addr('n1'), extra });
  });
  after(() => c.stopAll());

  const metadataLeader = (): string | undefined => running.find((id) => c.node(id).node.group(0).isLeader());

  /** Every running node agrees on the placement, and the leaderships match it. */
  async function settles(placement: string, timeoutMs = 20_000): Promise<Map<string, number>> {
    let led = new Map<string, number>();
    await eventually(
      async () => {
        const sts = await Promise.all(running.map((id) => cl(id).status()));
        if (sts.some((st) => st.leaderPlacement !== placement)) return false;
        const leader = metadataLeader();
        const st = sts.find((x) => x.nodeId === leader);
        if (st === undefined || st.shards.some((s) => s.leader === '')) return false;
        led = ledBy(st);
        const counts = running.map((id) => led.get(id) ?? 0);
        return placement === 'pack'
          ? led.get(leader as string) === 6
          : Math.max(...counts) - Math.min(...counts) <= 1;
      },
      timeoutMs,
      `leaderships to be ${placement}`,
    );
    return led;
  }

  it('packs every shard leader on the metadata leader when bootstrapped with pack', async () => {
    const led = await settles('pack');
    assert.deepEqual([...led.keys()], [metadataLeader()]);
  });

  it('spreads the leaders when a follower is asked to (the request is forwarded), and packs them again', async () => {
    const follower = running.find((id) => id !== metadataLeader()) as string;
    const res = await cl(follower).setLeaderPlacement('spread');
    assert.equal(res.placement, 'spread');
    const led = await settles('spread');
    assert.deepEqual([...led.values()].sort(), [2, 2, 2]);
    assert.equal((await cl(follower).setLeaderPlacement('pack')).placement, 'pack');
    await settles('pack');
  });

  it('moves the packed leaders to the next metadata leader when the node holding them stops', async () => {
    const old = metadataLeader() as string;
    await c.stop(old);
    running = running.filter((id) => id !== old);
    const led = await settles('pack', 30_000);
    assert.notEqual(metadataLeader(), old);
    assert.deepEqual([...led.keys()], [metadataLeader()]);
    await cl(running[0] as string).put('after-move', 'ok');
  });

  it('refuses an unknown placement with INVALID_ARGUMENT and keeps the current one', async () => {
    const id = running[0] as string;
    await assert.rejects(
      cl(id).setLeaderPlacement('random'),
      (e) =>
        (e as { code?: number }).code === status.INVALID_ARGUMENT &&
        /'random' is not one of: spread, pack/.test(String(e)),
    );
    assert.equal((await cl(id).status()).leaderPlacement, 'pack');
  });
});
