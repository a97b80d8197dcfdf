// The lean unary gRPC server, with its HTTP/2 work on a worker thread and inline: its receive
// windows are open wide (HTTP/2's 64 KiB defaults would let one client connection carry only 64 KiB
// of request bodies at a time), many large requests in flight on one connection all complete with
// their own answers, a handler's NodeError arrives as its status with the leader hint and retry-safe
// trailers, and the deadline (grpc-timeout, capped by the method's limit) and the forwarded mark
// reach the handler; a client that cancels thousands of calls (expired deadlines, hedged calls)
// keeps its connection.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { GetResponse } from '../gen/ringkv/v1/kv.ts';
import { UnavailableError } from '../node/errors.ts';
import { CLIENT_API_THREADS } from './client-api-thread.ts';
import type { CallContext, ServiceHandlers, UnaryMethodDefinition } from './unary-dispatch.ts';
import { UnaryHttp2Server } from './unary-http2-server.ts';

const identity = (b: Buffer): Buffer => b;
const method = (path: string): UnaryMethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestDeserialize: identity,
  responseSerialize: identity,
});
const SERVICE = {
  Echo: method('/test.Echo/Echo'),
  Fail: method('/test.Echo/Fail'),
  Crash: method('/test.Echo/Crash'),
  Describe: method('/test.Echo/Describe'),
  DescribeShort: method('/test.Echo/DescribeShort'),
  Hang: method('/test.Echo/Hang'),
};

/** Hang's calls answer once the suite that made them ends (each suite hangs its own). */
let hung = Promise.resolve();
let releaseHung: () => void = () => {};
function hangFromNow(): void {
  hung = new Promise<void>((resolve) => {
    releaseHung = resolve;
  });
}

/** Answers a GetResponse whose value has as many bytes as the request's text says. */
const GET_SERVICE = {
  Get: {
    ...method('/test.Kv/Get'),
    responseSerialize: (r: GetResponse) => Buffer.from(GetResponse.encode(r).finish()),
  } satisfies UnaryMethodDefinition<Buffer, GetResponse>,
};
const patternOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 256);
const GET_HANDLERS: ServiceHandlers<typeof GET_SERVICE> = {
  Get: async (req) => {
    const n = Number(req.toString());
    return { found: true, value: patternOf(n), version: BigInt(n), header: undefined };
  },
};

/** The server's limit on a call's deadline, and DescribeShort's own. */
const LIMIT_MS = 60_000;
const SHORT_LIMIT_MS = 500;

/** What the handler saw: the deadline's distance from now and the forwarded mark. */
const describeCall = async (_req: Buffer, call: CallContext): Promise<Buffer> =>
  Buffer.from(JSON.stringify({ inMs: call.deadlineMs - Date.now(), fwd: call.forwarded }));

const HANDLERS: ServiceHandlers<typeof SERVICE> = {
  Echo: async (req) => req,
  Fail: async () => {
    throw new UnavailableError('not here: try élsewhere', { leaderAddr: 'elsewhere:1', retrySafe: true });
  },
  Crash: () => {
    throw new Error('boom'); // thrown, not rejected: the server copes with both
  },
  Describe: describeCall,
  DescribeShort: Object.assign((req: Buffer, call: CallContext) => describeCall(req, call), {
    deadlineLimitMs: SHORT_LIMIT_MS,
  }),
  Hang: async (req) => {
    await hung;
    return req;
  },
};

interface Answer {
  readonly status: string;
  readonly message: string;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

function frame(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.byteLength);
  out.writeUInt32BE(body.byteLength, 1);
  body.copy(out, 5);
  return out;
}

/** One unary call on `session`: its status (from trailers or trailers-only headers) and body. */
function call(
  session: http2.ClientHttp2Session,
  body: Buffer,
  path = '/test.Echo/Echo',
  extra: http2.OutgoingHttpHeaders = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (t) => {
      headers = { ...headers, ...t };
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const framed = Buffer.concat(chunks);
      // A response message must come whole behind its prefix: 0, then its length (u32 BE).
      if (framed.byteLength > 0 && (framed[0] !== 0 || framed.readUInt32BE(1) !== framed.byteLength - 5)) {
        reject(
          new Error(
            `bad gRPC frame: ${framed.subarray(0, 5).toString('hex')} + ${framed.byteLength - 5} bytes`,
          ),
        );
        return;
      }
      resolve({
        status: String(headers['grpc-status']),
        message: decodeURI(String(headers['grpc-message'] ?? '')),
        headers,
        body: framed.subarray(5),
      });
    });
    stream.on('error', reject);
    stream.end(frame(body));
  });
}

/** The body of a successful call. */
async function echo(session: http2.ClientHttp2Session, body: Buffer): Promise<Buffer> {
  const a = await call(session, body);
  assert.equal(a.status, '0', a.message);
  return a.body;
}

for (const thread of CLIENT_API_THREADS) {
  describe(`UnaryHttp2Server (${thread})`, { timeout: 30_000 }, () => {
    const internalErrors: [unknown, string][] = [];
    const server = new UnaryHttp2Server({
      maxReceiveBytes: 1024 * 1024,
      thread,
      deadlineLimitMs: LIMIT_MS,
      onInternalError: (err, path) => internalErrors.push([err, path]),
    });
    let port = 0;
    let session: http2.ClientHttp2Session;

    before(async () => {
      hangFromNow();
      server.addService(SERVICE, HANDLERS);
      server.addService(GET_SERVICE, GET_HANDLERS, { Get: GetResponse });
      port = await server.listen('127.0.0.1', 0);
      session = http2.connect(`http://127.0.0.1:${port}`);
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    });
    after(async () => {
      releaseHung();
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

    it('keeps the connection of a client that cancels 5,000 calls in a burst, and answers on it', async () => {
      // Deadlines that expire and hedged calls cancel streams: nghttp2's default limit (1,000) would
      // end the connection with GOAWAY, failing every call in flight on it.
      const own = http2.connect(`http://127.0.0.1:${port}`);
      let goaway = '';
      const onGoaway = (code: number): void => {
        goaway = `GOAWAY ${code}`;
      };
      own.on('goaway', onGoaway);
      for (let round = 0; round < 50; round++) {
        const streams = Array.from({ length: 100 }, () => {
          const st = own.request({
            ':method': 'POST',
            ':path': '/test.Echo/Hang',
            'content-type': 'application/grpc',
            te: 'trailers',
          });
          st.on('error', () => {});
          st.write(frame(Buffer.from('x')));
          return st;
        });
        await new Promise((r) => setImmediate(r));
        for (const st of streams) st.close(http2.constants.NGHTTP2_CANCEL);
        await new Promise((r) => setImmediate(r));
      }
      try {
        const body = await echo(own, Buffer.from('still here'));
        assert.equal(goaway, '', 'the server ended the connection');
        assert.equal(body.toString(), 'still here');
        assert.equal(own.closed || own.destroyed, false);
      } finally {
        own.destroy();
      }
    });

    it('answers 256 requests of 4 KiB in flight on one connection, each with its own body', async () => {
      const bodies = Array.from({ length: 256 }, (_, i) => Buffer.alloc(4096, i % 251));
      const answers = await Promise.all(bodies.map((b) => echo(session, b)));
      for (const [i, a] of answers.entries()) assert.ok(a.equals(bodies[i] as Buffer), `answer ${i}`);
    });

    it('encodes responses with the given encoder behind their prefix, small after large', async () => {
      for (const n of [0, 256, 4096, 3 * 1024 * 1024, 100]) {
        const a = await call(session, Buffer.from(String(n)), '/test.Kv/Get');
        assert.equal(a.status, '0', a.message);
        const r = GetResponse.decode(a.body);
        assert.equal(r.version, BigInt(n));
        assert.ok(Buffer.from(patternOf(n)).equals(r.value), `value of ${n} bytes`);
      }
    });

    it("answers a handler's NodeError with its status, message, leader hint and retry-safe mark", async () => {
      const a = await call(session, Buffer.from('x'), '/test.Echo/Fail');
      assert.equal(a.status, '14');
      assert.equal(a.message, 'not here: try élsewhere');
      assert.equal(a.headers['ringkv-leader-addr'], 'elsewhere:1');
      assert.equal(a.headers['ringkv-retry-safe'], '1');
      assert.deepEqual(internalErrors, [], 'an expected failure is not logged as a bug');
    });

    it('answers an unexpected failure INTERNAL and reports it', async () => {
      const a = await call(session, Buffer.from('x'), '/test.Echo/Crash');
      assert.equal(a.status, '13');
      assert.equal(a.message, 'internal error: boom');
      assert.equal(a.headers['ringkv-retry-safe'], undefined);
      assert.equal(internalErrors.length, 1);
      assert.equal(internalErrors[0]?.[1], '/test.Echo/Crash');
      internalErrors.length = 0;
    });

    it('refuses an unknown method with UNIMPLEMENTED and a message larger than the limit', async () => {
      const unknown = await call(session, Buffer.from('x'), '/test.Echo/Nope');
      assert.equal(unknown.status, '12');
      assert.match(unknown.message, /unknown method \/test\.Echo\/Nope/);
      const big = await call(session, Buffer.alloc(1024 * 1024 + 1));
      assert.equal(big.status, '8');
    });

    it("hands the handler the client's deadline (less its margin) and the forwarded mark", async () => {
      const extra = { 'grpc-timeout': '3S', 'ringkv-forwarded': '1' };
      const marked = await call(session, Buffer.from('x'), '/test.Echo/Describe', extra);
      const seen = JSON.parse(marked.body.toString()) as { inMs: number; fwd: boolean };
      assert.equal(seen.fwd, true);
      assert.ok(seen.inMs > 2400 && seen.inMs <= 2900, `deadline in ${seen.inMs} ms, not 3 s less 100 ms`);
      const ms = await call(session, Buffer.from('x'), '/test.Echo/Describe', { 'grpc-timeout': '700m' });
      const inMs = (JSON.parse(ms.body.toString()) as { inMs: number }).inMs;
      assert.ok(inMs > 300 && inMs <= 630, `deadline in ${inMs} ms, not 700 ms less 10 %`);
    });

    it("caps the deadline by the method's limit, or the server's without a grpc-timeout", async () => {
      const plain = await call(session, Buffer.from('x'), '/test.Echo/Describe');
      const seen = JSON.parse(plain.body.toString()) as { inMs: number; fwd: boolean };
      assert.equal(seen.fwd, false);
      assert.ok(seen.inMs > LIMIT_MS - 500 && seen.inMs <= LIMIT_MS, `deadline in ${seen.inMs} ms`);
      const extra = { 'grpc-timeout': '3S' };
      const short = await call(session, Buffer.from('x'), '/test.Echo/DescribeShort', extra);
      const inMs = (JSON.parse(short.body.toString()) as { inMs: number }).inMs;
      assert.ok(
        inMs > 0 && inMs <= SHORT_LIMIT_MS,
        `deadline in ${inMs} ms, not the method's ${SHORT_LIMIT_MS}`,
      );
    });

    it('rejects listen on a port in use with EADDRINUSE', async () => {
      const other = new UnaryHttp2Server({ maxReceiveBytes: 1024, thread, deadlineLimitMs: LIMIT_MS });
      other.addService(SERVICE, HANDLERS);
      await assert.rejects(other.listen('127.0.0.1', port), { code: 'EADDRINUSE' });
      await other.close(100);
    });
  });
}

describe('UnaryHttp2Server (worker) when the worker thread dies', { timeout: 30_000 }, () => {
  it('reports the failure once, and close() still returns', async () => {
    const failures: Error[] = [];
    const server = new UnaryHttp2Server({
      maxReceiveBytes: 1024,
      thread: 'worker',
      deadlineLimitMs: LIMIT_MS,
      onWorkerFailure: (e) => failures.push(e),
    });
    server.addService(SERVICE, HANDLERS);
    await server.listen('127.0.0.1', 0);
    // Private on purpose: nothing outside the server may stop its thread.
    const worker = (server as unknown as { front: { worker: { terminate(): Promise<number> } } }).front
      .worker;
    await worker.terminate();
    for (let i = 0; i < 100 && failures.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(failures.length, 1);
    assert.match(String(failures[0]?.message), /client-API worker thread exited/);
    await server.close(100);
  });
});
