// The client port with TLS, with its HTTP/2 work inline and on the worker thread (which gets the
// PEM text): a client that trusts the CA and presents a certificate is served; with
// requireClientCert one without a certificate is refused and the refusal reported; a plaintext
// client is refused. Certificates: src/transport/testdata (README there).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ServerTls } from '../transport/tls.ts';
import { CLIENT_API_THREADS } from './client-api-thread.ts';
import type { UnaryMethodDefinition } from './unary-dispatch.ts';
import { UnaryHttp2Server } from './unary-http2-server.ts';

const CERTS = join(import.meta.dirname, '..', 'transport', 'testdata', 'tls');
const pem = (f: string) => readFileSync(join(CERTS, f), 'utf8');
const identity = (b: Buffer): Buffer => b;
const ECHO: UnaryMethodDefinition<Buffer, Buffer> = {
  path: '/test.Echo/Echo',
  requestStream: false,
  responseStream: false,
  requestDeserialize: identity,
  responseSerialize: identity,
};

/** One Echo call: the answer's grpc-status and body, or the connection's error. */
function echo(
  url: string,
  options: http2.SecureClientSessionOptions,
): Promise<{ status: string; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const session = http2.connect(url, options);
    // Whichever comes first settles it; a connection closed without an error is a refusal too.
    session.on('error', (err) => resolve({ error: err.message }));
    session.on('close', () => resolve({ error: 'connection closed' }));
    setTimeout(() => {
      resolve({ error: 'no answer within 5 s' });
      session.destroy();
    }, 5000).unref();
    const req = session.request({
      ':method': 'POST',
      ':path': ECHO.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.on('error', (err) => resolve({ error: (err.cause as Error | undefined)?.message ?? err.message }));
    req.on('close', () => resolve({ error: 'stream closed' }));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => {
      resolve({ status: String(t['grpc-status']), body: Buffer.concat(chunks).subarray(5).toString() });
      session.destroy();
    });
    const body = Buffer.from('hello');
    const framed = Buffer.alloc(5 + body.length);
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    req.end(framed);
  });
}

for (const thread of CLIENT_API_THREADS) {
  describe(`client port TLS (${thread})`, () => {
    const servers: UnaryHttp2Server[] = [];
    after(async () => {
      for (const s of servers) await s.close(0);
    });
    const failures: string[] = [];
    async function serve(tls: ServerTls): Promise<number> {
      const server = new UnaryHttp2Server({
        maxReceiveBytes: 1024,
        thread,
        deadlineLimitMs: 5000,
        onInternalError: () => {},
        tls,
        onTlsFailure: (reason) => failures.push(reason),
      });
      server.addService({ Echo: ECHO }, { Echo: async (req: Buffer) => req });
      servers.push(server);
      return server.listen('127.0.0.1', 0);
    }
    const trusting = { ca: pem('ca.crt') };

    it('serves a client that trusts the CA; refuses a plaintext one', async () => {
      const port = await serve({ cert: pem('a.crt'), key: pem('a.key'), requireClientCert: false });
      assert.deepEqual(await echo(`https://127.0.0.1:${port}`, trusting), { status: '0', body: 'hello' });
      const plain = await echo(`http://127.0.0.1:${port}`, {});
      assert.ok('error' in plain, JSON.stringify(plain));
      const untrusting = await echo(`https://127.0.0.1:${port}`, {});
      assert.ok('error' in untrusting && /certificate/.test(untrusting.error), JSON.stringify(untrusting));
    });

    it('with requireClientCert: refuses a client without a certificate, serves one with', async () => {
      const port = await serve({
        cert: pem('a.crt'),
        key: pem('a.key'),
        ca: pem('ca.crt'),
        requireClientCert: true,
      });
      const without = await echo(`https://127.0.0.1:${port}`, trusting);
      assert.ok('error' in without, JSON.stringify(without));
      const withCert = await echo(`https://127.0.0.1:${port}`, {
        ...trusting,
        cert: pem('b.crt'),
        key: pem('b.key'),
      });
      assert.deepEqual(withCert, { status: '0', body: 'hello' });
      for (let i = 0; i < 50 && !failures.some((f) => f.includes('presented no certificate')); i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.ok(
        failures.some((f) => f.includes('presented no certificate')),
        JSON.stringify(failures),
      );
    });
  });
}
