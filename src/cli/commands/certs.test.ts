// `ringkv certs create`: every certificate chains to the CA, node certificates are for server and
// client authentication with their name and the hosts as SANs, the client certificate only for
// clients; bad options are refused before any work, and existing files are never overwritten.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCertsCreate } from './certs.ts';
import { generateCerts, problemWith } from './certs-generate.ts';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-certs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The OIDs of TLS server and client authentication in X509Certificate.keyUsage (extended key usage). */
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('generateCerts', () => {
  const made = generateCerts({
    nodes: ['n1', 'n2'],
    hosts: ['localhost', '127.0.0.1', 'db.example'],
    validDays: 30,
    clientName: 'client',
  });
  const ca = new X509Certificate(made.ca.cert);

  test('a CA, and every certificate signed by it with a key that is its own', () => {
    assert.equal(ca.ca, true);
    for (const pair of [...made.nodes.values(), made.client]) {
      const cert = new X509Certificate(pair.cert);
      assert.equal(cert.ca, false);
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey));
      assert.ok(cert.checkPrivateKey(createPrivateKey(pair.key)));
    }
    assert.ok(new X509Certificate(made.ca.cert).checkPrivateKey(createPrivateKey(made.ca.key)));
  });

  test('node certificates: server and client authentication, their name and the hosts', () => {
    const n1 = new X509Certificate(made.nodes.get('n1')?.cert ?? '');
    assert.equal(n1.subject, 'CN=n1');
    assert.equal(n1.subjectAltName, 'DNS:n1, DNS:localhost, IP Address:127.0.0.1, DNS:db.example');
    assert.deepEqual(n1.keyUsage?.sort(), [SERVER_AUTH, CLIENT_AUTH].sort());
    assert.equal(n1.checkHost('localhost'), 'localhost');
    assert.equal(n1.checkIP('127.0.0.1'), '127.0.0.1');
    const days = (Date.parse(n1.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days <= 30, `valid ${days} days`);
    const client = new X509Certificate(made.client.cert);
    assert.deepEqual(client.keyUsage, [CLIENT_AUTH]);
    assert.equal(client.subjectAltName, undefined);
  });

  test('two runs make two CAs that do not vouch for each other', () => {
    const other = generateCerts({ nodes: ['n1'], hosts: [], validDays: 1, clientName: 'client' });
    const n1 = new X509Certificate(other.nodes.get('n1')?.cert ?? '');
    assert.equal(n1.checkIssued(ca), false);
    assert.notEqual(new X509Certificate(other.ca.cert).subject, ca.subject);
  });

  test('bad options are refused', () => {
    const o = { nodes: ['n1'], hosts: ['localhost'], validDays: 10, clientName: 'client' };
    assert.equal(problemWith(o), undefined);
    assert.match(problemWith({ ...o, nodes: [] }) ?? '', /--nodes is empty/);
    assert.match(problemWith({ ...o, nodes: ['a/b'] }) ?? '', /may only hold/);
    assert.match(problemWith({ ...o, nodes: ['ca'] }) ?? '', /would overwrite the ca certificate/);
    assert.match(problemWith({ ...o, nodes: ['x', 'x'] }) ?? '', /named twice/);
    assert.match(problemWith({ ...o, hosts: ['bad host'] }) ?? '', /neither a host name nor an IP/);
    assert.match(problemWith({ ...o, validDays: 0 }) ?? '', /--days/);
  });
});

describe('runCertsCreate', () => {
  test('writes the files with private keys, and never overwrites', async () => {
    const out = join(dir, 'out');
    assert.equal(await runCertsCreate({ out, nodes: 'a', hosts: 'localhost', days: '5' }), 0);
    for (const f of ['ca.crt', 'ca.key', 'a.crt', 'a.key', 'client.crt', 'client.key'])
      assert.ok(readFileSync(join(out, f), 'utf8').startsWith('-----BEGIN '), f);
    assert.equal(statSync(join(out, 'a.key')).mode & 0o777, 0o600);
    const before = readFileSync(join(out, 'a.crt'), 'utf8');
    assert.equal(await runCertsCreate({ out, nodes: 'a,b', hosts: 'localhost', days: '5' }), 1);
    assert.equal(readFileSync(join(out, 'a.crt'), 'utf8'), before);
    assert.equal(await runCertsCreate({ out: join(dir, 'x'), nodes: 'a', hosts: '', days: 'ten' }), 2);
  });

  test('--output json: the files written, by what they are; a refusal is an error document', async (t) => {
    const stdout: string[] = [];
    t.mock.method(process.stdout, 'write', (chunk: string) => stdout.push(chunk) > 0);
    t.mock.method(process.stderr, 'write', () => true);
    const out = join(dir, 'json');
    const opts = { out, nodes: 'n1,n2', hosts: 'localhost', days: '7', output: 'json' };
    assert.equal(await runCertsCreate(opts), 0);
    const doc = JSON.parse(stdout.join(''));
    assert.deepEqual(doc, {
      out,
      validDays: 7,
      hosts: ['localhost'],
      ca: { cert: join(out, 'ca.crt'), key: join(out, 'ca.key') },
      nodes: {
        n1: { cert: join(out, 'n1.crt'), key: join(out, 'n1.key') },
        n2: { cert: join(out, 'n2.crt'), key: join(out, 'n2.key') },
      },
      client: { cert: join(out, 'client.crt'), key: join(out, 'client.key') },
    });
    for (const file of [doc.ca.cert, doc.nodes.n2.key, doc.client.cert]) assert.ok(statSync(file).isFile());
    stdout.length = 0;
    assert.equal(await runCertsCreate(opts), 1);
    assert.equal(JSON.parse(stdout.join('')).error.code, 'EXISTS');
  });
});
