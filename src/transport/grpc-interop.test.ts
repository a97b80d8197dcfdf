// The raft port still speaks gRPC: a @grpc/grpc-js client can stream to our server, and our
// sender can stream to a @grpc/grpc-js server (an older node during a rolling upgrade). Tests only:
// src/transport itself no longer imports @grpc/grpc-js.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServerReadableStream,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import {
  PeerServiceClient,
  PeerServiceService,
  type PeerServiceStreamRequest,
} from '../gen/ringkv/v1/peer.ts';
import type { Message } from '../raft/types.ts';
import { nodeId } from '../raft/types.ts';
import { messageFromWire, messageToWire } from './codec.ts';
import { GrpcTransport } from './grpc-transport.ts';
import { appMessage, seqOf, until } from './testing.ts';

const A = nodeId('a');
const B = nodeId('b');

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function receiver(clusterId = 'c1'): Promise<{ t: GrpcTransport; got: Message[] }> {
  const t = new GrpcTransport({ localId: B, listenHost: '127.0.0.1', listenPort: 0, clusterId });
  cleanups.push(() => t.close());
  await t.start();
  const got: Message[] = [];
  t.onMessage((_g, m) => got.push(m));
  return { t, got };
}

function handshake(to: string, cluster = 'c1'): Metadata {
  const md = new Metadata();
  md.set('ringkv-from-node-id', encodeURIComponent(A));
  md.set('ringkv-to-node-id', encodeURIComponent(to));
  md.set('ringkv-cluster-id', encodeURIComponent(cluster));
  return md;
}

function request(seq: number): PeerServiceStreamRequest {
  return {
    batch: {
      fromNodeId: A,
      clusterId: 'c1',
      messages: [{ groupId: 3, message: messageToWire(appMessage(A, B, seq)) }],
    },
  };
}

describe('gRPC interop of the raft port', () => {
  it('a @grpc/grpc-js client streams batches to our server and gets OK when it ends', async () => {
    const { t, got } = await receiver();
    const client = new PeerServiceClient(t.address, credentials.createInsecure());
    cleanups.push(() => client.close());
    let nodeHeader: string | undefined;
    const result = new Promise<ServiceError | null>((resolve) => {
      const call = client.stream(handshake(B), (err) => resolve(err));
      call.on('metadata', (md: Metadata) => {
        nodeHeader = md.get('ringkv-node-id')[0]?.toString();
      });
      for (let seq = 0; seq < 5; seq++) call.write(request(seq));
      call.end();
    });
    assert.equal(await result, null);
    assert.equal(nodeHeader, 'b', 'the receiver answers with its node id');
    assert.deepEqual(got.map(seqOf), [0, 1, 2, 3, 4]);
  });

  it('a @grpc/grpc-js client addressed to another node gets FAILED_PRECONDITION with the reason', async () => {
    const { t, got } = await receiver();
    const client = new PeerServiceClient(t.address, credentials.createInsecure());
    cleanups.push(() => client.close());
    const err = await new Promise<ServiceError | null>((resolve) => {
      const call = client.stream(handshake('c'), (e) => resolve(e));
      call.write(request(0));
    });
    assert.equal(err?.code, status.FAILED_PRECONDITION);
    assert.match(err?.details ?? '', /belongs to node 'b', not 'c'/);
    assert.equal(got.length, 0);
  });

  it('a @grpc/grpc-js client naming another cluster mid-stream is refused with FAILED_PRECONDITION', async () => {
    const { t, got } = await receiver();
    const client = new PeerServiceClient(t.address, credentials.createInsecure());
    cleanups.push(() => client.close());
    const err = await new Promise<ServiceError | null>((resolve) => {
      const call = client.stream(handshake(B), (e) => resolve(e));
      call.write(request(0));
      const other = request(1);
      if (other.batch !== undefined) other.batch.clusterId = 'c2';
      call.write(other);
    });
    assert.equal(err?.code, status.FAILED_PRECONDITION);
    assert.match(err?.details ?? '', /cluster 'c2'/);
    assert.deepEqual(got.map(seqOf), [0], 'the batch before the bad one was delivered');
  });

  it('our sender streams to a @grpc/grpc-js server (an older node)', async () => {
    const received: Message[] = [];
    const headers: Metadata[] = [];
    const server = new Server();
    server.addService(PeerServiceService, {
      stream: (call: ServerReadableStream<PeerServiceStreamRequest, object>) => {
        headers.push(call.metadata);
        const accepted = new Metadata();
        accepted.set('ringkv-node-id', 'b');
        call.sendMetadata(accepted);
        call.on('data', (req: PeerServiceStreamRequest) => {
          for (const gm of req.batch?.messages ?? [])
            if (gm.message) received.push(messageFromWire(gm.message));
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => server.forceShutdown());
    const a = new GrpcTransport({ localId: A, listenHost: '127.0.0.1', listenPort: 0, clusterId: 'c1' });
    cleanups.push(() => a.close());
    await a.start();
    a.setPeerAddress(B, `127.0.0.1:${port}`);
    for (let seq = 0; seq < 10; seq++) a.send(1, appMessage(A, B, seq));
    await until('10 messages at the grpc-js server', () => received.length === 10);
    assert.deepEqual(received.map(seqOf), [...Array(10).keys()]);
    assert.equal(headers[0]?.get('ringkv-from-node-id')[0], 'a');
    assert.equal(headers[0]?.get('ringkv-to-node-id')[0], 'b');
    assert.equal(headers[0]?.get('ringkv-cluster-id')[0], 'c1');
  });
});
