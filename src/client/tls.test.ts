// The client with TLS (RingkvClientOptions.tls) against the fake cluster served over TLS: a client
// that trusts the CA is served; one that does not, or a plaintext one, gets UnavailableError
// (unreachable) naming the certificate, within its give-up time; with client certificates
// required, only a client presenting one is served. Certificates: src/transport/testdata.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ServerCredentials } from '@grpc/grpc-js';
import { RingkvClient, type RingkvClientOptions } from './client.ts';
import { UnavailableError } from './errors.ts';
import { FakeCluster } from './testing/fake-server.ts';

const CERTS = join(import.meta.dirname, '..', 'transport', 'testdata');
const pem = (f: string) => readFileSync(join(CERTS, f));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function serverCredentials(requireClientCert: boolean): ServerCredentials {
  return ServerCredentials.createSsl(
    pem('tls/ca.crt'),
    [{ private_key: pem('tls/a.key'), cert_chain: pem('tls/a.crt') }],
    requireClientCert,
  );
}

const opened: (RingkvClient | FakeCluster)[] = [];
after(async () => {
  for (const o of opened) await o.close();
});

function clientOf(cluster: FakeCluster, opts: Partial<RingkvClientOptions>): RingkvClient {
  const c = new RingkvClient({
    endpoints: [cluster.nodes[0]!.addr],
    backoff: { baseMs: 5, maxMs: 40 },
    unreachableGiveUpMs: 300,
    defaultTimeoutMs: 3000,
    ...opts,
  });
  opened.push(c);
  return c;
}

async function unreachable(p: Promise<unknown>): Promise<UnavailableError> {
  const e = await p.then(
    () => assert.fail('expected a refusal'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof UnavailableError && e.reason === 'unreachable', String(e));
  return e;
}

describe('RingkvClient with TLS', () => {
  test('a client that trusts the CA is served; another CA, or plaintext, is refused', async () => {
    const cluster = await FakeCluster.start({ nodes: 1, credentials: serverCredentials(false) });
    opened.push(cluster);
    const ok = clientOf(cluster, { tls: { ca: pem('tls/ca.crt') } });
    await ok.put('k', 'v');
    const got = await ok.get('k');
    assert.ok(got.found && text(got.value) === 'v');
    const wrongCa = await unreachable(clientOf(cluster, { tls: { ca: pem('tls-other/ca.crt') } }).get('k'));
    assert.match(wrongCa.message, /certificate/);
    await unreachable(clientOf(cluster, {}).get('k'));
  });

  test('client certificates required: refused without one, served with one', async () => {
    const cluster = await FakeCluster.start({ nodes: 1, credentials: serverCredentials(true) });
    opened.push(cluster);
    await unreachable(clientOf(cluster, { tls: { ca: pem('tls/ca.crt') } }).get('k'));
    const withCert = clientOf(cluster, {
      tls: { ca: pem('tls/ca.crt'), cert: pem('tls/b.crt'), key: pem('tls/b.key') },
    });
    await withCert.put('k', 'v');
    assert.equal((await withCert.get('k')).found, true);
  });

  test('a certificate without its key, or a file name for a PEM, is refused at once', () => {
    assert.throws(
      () => new RingkvClient({ endpoints: ['localhost:1'], tls: { cert: pem('tls/b.crt') } }),
      /give cert and key together/,
    );
    assert.throws(
      () => new RingkvClient({ endpoints: ['localhost:1'], tls: { ca: 'certs/ca.crt' } }),
      /tls.ca: expected PEM text/,
    );
  });
});
