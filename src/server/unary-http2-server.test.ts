// The lean unary gRPC server: its receive windows are open wide (HTTP/2's 64 KiB defaults would let
// one client connection carry only 64 KiB of request bodies at a time), and many large requests in
// flight on one connection all complete with their own answers.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import type { MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { UnaryHttp2Server } from './unary-http2-server.ts';

const identity = (b: Buffer): Buffer => b;
const ECHO: MethodDefinition<Buffer, Buffer> = {
  path: '/test.Echo/Echo',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};

function frame(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.byteLength);
  out.writeUInt32BE(body.byteLength, 1);
  body.copy(out, 5);
  return out;
}

/** One unary call on `session`: resolves with the response message (without the 5-byte prefix). */
function call(session: http2.ClientHttp2Session, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': ECHO.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (t) => {
      if (t['grpc-status'] !== '0') reject(new Error(`grpc-status ${String(t['grpc-status'])}`));
    });
    stream.on('end', () => resolve(Buffer.concat(chunks).subarray(5)));
    stream.on('error', reject);
    stream.end(frame(body));
  });
}

describe('UnaryHttp2Server', { timeout: 30_000 }, () => {
  const server = new UnaryHttp2Server(1024 * 1024);
  let port = 0;
  let session: http2.ClientHttp2Session;

  before(async () => {
    const impl: UntypedServiceImplementation = {
      Echo: (c: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, c.request),
    };
    server.addService({ Echo: ECHO } as ServiceDefinition, impl);
    port = await server.listen('127.0.0.1', 0);
    session = http2.connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  });
  after(async () => {
    session.close();
    await server.close(100);
  });

  it('advertises a 1 MiB stream window and opens the connection window to 16 MiB', async () => {
    assert.equal(session.remoteSettings.initialWindowSize, 1024 * 1024);
    // The connection-level WINDOW_UPDATE follows the SETTINGS frame.
    for (let i = 0; i < 100 && (session.state.remoteWindowSize ?? 0) < 16 * 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(session.state.remoteWindowSize, 16 * 1024 * 1024);
  });

  it('answers 256 requests of 4 KiB in flight on one connection, each with its own body', async () => {
    const bodies = Array.from({ length: 256 }, (_, i) => Buffer.alloc(4096, i % 251));
    const answers = await Promise.all(bodies.map((b) => call(session, b)));
    for (const [i, a] of answers.entries()) assert.ok(a.equals(bodies[i] as Buffer), `answer ${i}`);
  });
});
