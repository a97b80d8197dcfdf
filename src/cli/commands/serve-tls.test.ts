// serve's TLS settings: etcd's flags, from any source like every serve setting (the flag table),
// which go together, and a bad combination named with its source. Reading the files is the node's
// (src/server/tls-files.ts), tested below with the transport's test certificates.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadTlsFiles, type TlsFileOptions } from '../../server/tls-files.ts';
import { resolveServeFlags, type ServeFlags } from './serve.ts';
import type { Setting } from './serve-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-serve-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CERTS = join(import.meta.dirname, '..', '..', 'transport', 'testdata', 'tls');

function flags(values: Record<string, string | boolean>): Map<string, Setting> {
  return new Map(Object.entries(values).map(([k, value]) => [k, { value, source: { kind: 'flag' } }]));
}

async function resolve(
  cli: Record<string, string | boolean>,
  env: Record<string, string> = {},
): Promise<ServeFlags | string> {
  return (await resolveServeFlags(flags(cli), env)).flags;
}

const BASE = { node_id: 'n1', raft_dir: '/data/n1' };
const PEER = { peer_cert_file: 'p.crt', peer_key_file: 'p.key', peer_trusted_ca_file: 'ca.crt' };

describe('serve TLS settings', () => {
  test('none given: both ports plaintext', async () => {
    const f = await resolve(BASE);
    assert.ok(typeof f !== 'string', f as string);
    assert.deepEqual(f.tls, {
      certFile: undefined,
      keyFile: undefined,
      trustedCaFile: undefined,
      clientCertAuth: false,
      peerCertFile: undefined,
      peerKeyFile: undefined,
      peerTrustedCaFile: undefined,
    });
  });

  test('from a flag, a RINGKV_ variable and the config file, each as any other setting', async () => {
    const config = join(dir, 'tls.yaml');
    writeFileSync(
      config,
      'peer-cert-file: p.crt\npeer_key_file: p.key\nclient_cert_auth: true\ncert_file: file.crt\n',
    );
    const f = await resolve(
      { ...BASE, config_file: config, cert_file: 'flag.crt', key_file: 'flag.key' },
      { RINGKV_TRUSTED_CA_FILE: 'env-ca.crt', RINGKV_PEER_TRUSTED_CA_FILE: 'peer-ca.crt' },
    );
    assert.ok(typeof f !== 'string', f as string);
    assert.deepEqual(f.tls, {
      certFile: 'flag.crt',
      keyFile: 'flag.key',
      trustedCaFile: 'env-ca.crt',
      clientCertAuth: true,
      peerCertFile: 'p.crt',
      peerKeyFile: 'p.key',
      peerTrustedCaFile: 'peer-ca.crt',
    });
  });

  test('what must go together, named with its source', async () => {
    assert.equal(
      await resolve({ ...BASE, cert_file: 'a.crt' }),
      "--cert_file needs --key_file too (the client port's certificate and its key)",
    );
    assert.equal(
      await resolve(BASE, { RINGKV_KEY_FILE: 'a.key' }),
      "RINGKV_KEY_FILE=a.key: --key_file needs --cert_file too (the client port's certificate and its key)",
    );
    assert.match(
      (await resolve({ ...BASE, trusted_ca_file: 'ca.crt' })) as string,
      /^--trusted_ca_file needs --cert_file and --key_file/,
    );
    assert.match(
      (await resolve({ ...BASE, cert_file: 'a.crt', key_file: 'a.key', client_cert_auth: true })) as string,
      /^--client_cert_auth needs --cert_file, --key_file and --trusted_ca_file/,
    );
    assert.match(
      (await resolve({ ...BASE, peer_cert_file: 'p.crt', peer_key_file: 'p.key' })) as string,
      /^--peer_cert_file needs --peer_cert_file, --peer_key_file and --peer_trusted_ca_file all three/,
    );
    assert.match((await resolve({ ...BASE, client_cert_auth: 'maybe' })) as string, /must be true or false/);
    const f = await resolve({ ...BASE, ...PEER });
    assert.ok(typeof f !== 'string', f as string);
  });
});

describe('loadTlsFiles', () => {
  const none: TlsFileOptions = {
    certFile: undefined,
    keyFile: undefined,
    trustedCaFile: undefined,
    clientCertAuth: false,
    peerCertFile: undefined,
    peerKeyFile: undefined,
    peerTrustedCaFile: undefined,
  };
  const at = (f: string) => join(CERTS, f);

  test('reads both ports’ files', () => {
    const loaded = loadTlsFiles({
      ...none,
      certFile: at('a.crt'),
      keyFile: at('a.key'),
      trustedCaFile: at('ca.crt'),
      clientCertAuth: true,
      peerCertFile: at('b.crt'),
      peerKeyFile: at('b.key'),
      peerTrustedCaFile: at('ca.crt'),
    });
    assert.equal(loaded.clientTls?.cert, readFileSync(at('a.crt'), 'utf8'));
    assert.equal(loaded.clientTls?.requireClientCert, true);
    assert.equal(loaded.peerTls?.key, readFileSync(at('b.key'), 'utf8'));
    assert.deepEqual(loadTlsFiles(none), { clientTls: undefined, peerTls: undefined });
  });

  test('a missing file, a file that is not PEM, a key of another certificate: refused at start', () => {
    assert.throws(
      () => loadTlsFiles({ ...none, certFile: join(dir, 'nope.crt'), keyFile: at('a.key') }),
      /--cert_file .*nope\.crt: cannot read it/,
    );
    const text = join(dir, 'text.crt');
    writeFileSync(text, 'not a certificate\n');
    assert.throws(() => loadTlsFiles({ ...none, certFile: text, keyFile: at('a.key') }), /not a PEM file/);
    assert.throws(
      () => loadTlsFiles({ ...none, certFile: at('a.crt'), keyFile: at('b.key') }),
      /--key_file is not the key of --cert_file/,
    );
    assert.throws(
      () =>
        loadTlsFiles({
          ...none,
          peerCertFile: at('a.crt'),
          peerKeyFile: at('b.key'),
          peerTrustedCaFile: at('ca.crt'),
        }),
      /--peer_key_file is not the key of --peer_cert_file/,
    );
  });
});
