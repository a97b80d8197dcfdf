// The clients to other nodes find a node again soon after it comes back: grpc's default reconnect
// backoff (1 s growing by 1.6× up to two minutes) would leave a node that was down for a few
// seconds unreachable for seconds more, and forwarded requests would fail meanwhile.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort } from '../../test/support/ports.ts';
import { ClusterServiceService, StatusResponse } from '../gen/ringkv/v1/kv.ts';
import { PeerClients } from './peer-clients.ts';
import { UnaryHttp2Server } from './unary-http2-server.ts';

const DOWN_MS = 6000;
/** With grpc's defaults the next attempt after 6 s of failures is 1.6 s or more away. */
const BACK_WITHIN_MS = 1500;

describe('PeerClients', { timeout: 30_000 }, () => {
  const peers = new PeerClients();
  const server = new UnaryHttp2Server({
    maxReceiveBytes: 1024 * 1024,
    thread: 'inline',
    deadlineLimitMs: 5000,
  });
  after(async () => {
    peers.close();
    await server.close(100);
  });

  it(`reaches a node again within ${BACK_WITHIN_MS} ms after it was down for ${DOWN_MS} ms`, async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const ask = () => peers.status(addr, Date.now() + 200);
    const downUntil = Date.now() + DOWN_MS;
    let failures = 0;
    for (let i = 0; i < 200 && Date.now() < downUntil; i++) {
      await assert.rejects(ask());
      failures++;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(failures > 5, `only ${failures} failed calls while down`);
    const never = () => new Promise<never>(() => {});
    server.addService(ClusterServiceService, {
      status: async () => StatusResponse.fromPartial({ nodeId: 'n9' }),
      join: never,
      leave: never,
      setLeaderPlacement: never,
      configure: never,
    });
    await server.listen('127.0.0.1', port);
    const upAt = Date.now();
    let answered = false;
    for (let i = 0; i < 100 && !answered && Date.now() - upAt < 5000; i++) {
      answered = await ask().then(
        () => true,
        () => false,
      );
      if (!answered) await new Promise((r) => setTimeout(r, 20));
    }
    const tookMs = Date.now() - upAt;
    assert.ok(answered, 'never reached the node again');
    assert.ok(tookMs < BACK_WITHIN_MS, `reached the node again only after ${tookMs} ms`);
  });
});
