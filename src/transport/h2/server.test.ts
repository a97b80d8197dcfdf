// The hand-written HTTP/2 server against node:http2's client (nghttp2, a full implementation of the
// protocol): answers, windows both ways, CONTINUATION, padding, resets, PING, GOAWAY, garbage.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { encodeIndexed, encodeLiteral } from './hpack.ts';
import { H2Server } from './server.ts';
import { H2ServerConnection, type H2ServerStream } from './server-connection.ts';

const block = (build: (o: number[]) => void): Buffer => {
  const o: number[] = [];
  build(o);
  return Buffer.from(o);
};
const HEADERS = block((o) => {
  encodeIndexed(8, o);
  encodeLiteral('content-type', 'application/grpc', o);
});
const TRAILERS = block((o) => encodeLiteral('grpc-status', '0', o));

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

type Handler = (s: H2ServerStream, fields: readonly string[]) => void;

/** Echoes the request body back (answer bytes: `x-answer-bytes` of 0x61 if given), in one unary answer. */
const echo: Handler = (s, fields) => {
  const chunks: Buffer[] = [];
  s.onData = (c) => chunks.push(c);
  s.onEnd = () => {
    const n = field(fields, 'x-answer-bytes');
    const body = n === undefined ? Buffer.concat(chunks) : Buffer.alloc(Number(n), 0x61);
    s.respondUnary(HEADERS, body, TRAILERS);
  };
};

const servers: H2Server[] = [];
after(async () => {
  for (const s of servers) await s.close(0);
});

async function serve(handler: Handler): Promise<{ server: H2Server; url: string }> {
  const server = new H2Server({ onStream: (s, f) => handler(s, f) });
  servers.push(server);
  const port = await server.listen('127.0.0.1', 0);
  return { server, url: `http://127.0.0.1:${port}` };
}

interface Answer {
  readonly status: number | undefined;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders;
}

function call(
  client: http2.ClientHttp2Session,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/t', ...headers });
    let status: number | undefined;
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = h[':status'];
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks), trailers }));
    req.on('error', reject);
    req.end(body);
  });
}

function connect(url: string, options: http2.ClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const c = http2.connect(url, options);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

describe('H2Server', () => {
  it('answers many concurrent calls with headers, data and trailers', async () => {
    const { url } = await serve(echo);
    const client = await connect(url);
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => call(client, Buffer.from(`request ${i}`))),
    );
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), `request ${i}`);
      assert.equal(a.trailers['grpc-status'], '0');
    });
    client.close();
  });

  it('keeps within a small client window: the rest of a large answer waits for WINDOW_UPDATEs', async () => {
    const { url } = await serve(echo);
    const client = await connect(url, { settings: { initialWindowSize: 1000 } });
    const answers = await Promise.all(
      [100_000, 2_000_000, 17_000].map((n) => call(client, Buffer.alloc(0), { 'x-answer-bytes': String(n) })),
    );
    assert.deepEqual(
      answers.map((a) => [a.body.length, a.body.every((b) => b === 0x61), a.trailers['grpc-status']]),
      [
        [100_000, true, '0'],
        [2_000_000, true, '0'],
        [17_000, true, '0'],
      ],
    );
    client.close();
  });

  it('takes a request body larger than its windows, and headers split over CONTINUATION frames', async () => {
    const { url } = await serve(echo);
    const client = await connect(url);
    const big = Buffer.alloc(5_000_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const metadata = { 'x-large': 'v'.repeat(40_000) }; // above one 16 KiB frame
    const [a, b] = await Promise.all([call(client, big), call(client, Buffer.from('small'), metadata)]);
    assert.ok(a.body.equals(big));
    assert.equal(b.body.toString(), 'small');
    client.close();
  });

  it('reads padded frames', async () => {
    const { url } = await serve(echo);
    const client = await connect(url, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
    const a = await call(client, Buffer.from('padded'));
    assert.equal(a.body.toString(), 'padded');
    client.close();
  });

  it('tells the handler of a stream the client cancelled, and answers PINGs', async () => {
    let aborted = 0;
    let closed = 0;
    const started: H2ServerStream[] = [];
    const { url } = await serve((s) => {
      started.push(s);
      s.onAbort = () => aborted++;
      s.onClosed(() => closed++);
    });
    const client = await connect(url);
    const req = client.request({ ':method': 'POST', ':path': '/t' });
    req.on('error', () => {});
    req.write('part');
    await waitFor(() => started.length === 1);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => aborted === 1 && closed === 1);
    assert.equal(started[0]?.writable, false);
    const rtt = await new Promise<number>((resolve, reject) =>
      client.ping((err, ms) => (err ? reject(err) : resolve(ms))),
    );
    assert.ok(rtt >= 0);
    client.close();
  });

  it('runs a stream’s close listeners after the call that ended it, never inside it', async () => {
    const order: string[] = [];
    const { url } = await serve((s) => {
      s.onClosed(() => order.push('closed'));
      s.onEnd = () => {
        s.respondUnary(HEADERS, Buffer.from('done'), TRAILERS);
        order.push('answered');
      };
    });
    const client = await connect(url);
    assert.equal((await call(client, Buffer.from('x'))).body.toString(), 'done');
    await waitFor(() => order.length === 2);
    assert.deepEqual(order, ['answered', 'closed']);
    client.close();
  });

  it('closes gracefully: the call in flight is answered, then the connection ends', async () => {
    let pending: H2ServerStream | undefined;
    const { server, url } = await serve((s) => {
      s.onEnd = () => {
        pending = s;
      };
    });
    const client = await connect(url);
    const answer = call(client, Buffer.from('x'));
    await waitFor(() => pending !== undefined);
    const closing = server.close(5_000);
    await new Promise((r) => setTimeout(r, 50));
    pending?.respondUnary(HEADERS, Buffer.from('late'), TRAILERS);
    assert.equal((await answer).body.toString(), 'late');
    await closing;
    await waitFor(() => client.closed || client.destroyed);
  });

  it('ends a connection that sends garbage instead of the preface, and serves the next', async () => {
    const { server, url } = await serve(echo);
    const port = Number(new URL(url).port);
    const closed = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      sock.on('close', () => resolve(true));
      sock.on('error', () => {});
      sock.resume();
    });
    assert.ok(closed);
    await waitFor(() => server.connections === 0);
    const client = await connect(url);
    assert.equal((await call(client, Buffer.from('ok'))).body.toString(), 'ok');
    client.close();
  });

  it('ends a connection whose client resets streams beyond its budget (GOAWAY ENHANCE_YOUR_CALM)', async () => {
    const tcp = net.createServer((socket) => {
      new H2ServerConnection(socket, { onStream: () => {} }, { burst: 5, perSecond: 0 });
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const port = (tcp.address() as net.AddressInfo).port;
    const client = await connect(`http://127.0.0.1:${port}`);
    const goaway = new Promise<number>((resolve) => client.on('goaway', (code) => resolve(code)));
    client.on('error', () => {});
    for (let i = 0; i < 10; i++) {
      const req = client.request({ ':method': 'POST', ':path': '/t' });
      req.on('error', () => {});
      req.close(http2.constants.NGHTTP2_CANCEL);
    }
    assert.equal(await goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    client.destroy();
    await new Promise((r) => tcp.close(r));
  });

  it('refuses a stream whose header list is above the bound, and keeps serving the connection', async () => {
    const { url } = await serve(echo);
    const client = await connect(url, { maxSendHeaderBlockLength: 1_000_000 });
    const tooMany: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i < 40; i++) tooMany[`x-h${i}`] = 'v'.repeat(2_000); // 80 KB: above 64 KiB
    await assert.rejects(call(client, Buffer.from('x'), tooMany), /REFUSED_STREAM|closed with code 7/);
    assert.equal((await call(client, Buffer.from('after'))).body.toString(), 'after');
    client.close();
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition not reached within 5 s');
}
