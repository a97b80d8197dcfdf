// TLS with real processes and certificates from `ringkv certs create`: a 3-node cluster with TLS on
// both ports (node3's TLS settings from its config file, as an operator's would be) serves the CLI
// with --cacert; a plaintext client and a client trusting another CA are refused at once with a
// line that names TLS; a node whose peer certificate the cluster does not trust cannot join (it
// exits, its log says why); and a cluster with --client_cert_auth refuses a client without a
// certificate and serves one with the client certificate (its second node joined through that
// client port with its own certificate). The admin port follows the client port: HTTPS with its
// certificate.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePorts } from '../support/ports.ts';
import { ProcessCluster, ProcessNode, runCli, waitUntil, within } from './harness.ts';

/** GET on 127.0.0.1:`port` (bounded), with `tls` options for HTTPS. */
function httpGet(
  via: typeof http | typeof https,
  port: number,
  path: string,
  tls: https.RequestOptions,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = via.get({ host: '127.0.0.1', port, path, timeout: 5000, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** A refused client must fail this fast (the CLI gives up on unreachable nodes after 1 s). */
const REFUSED_WITHIN_MS = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'ringkv-tls-test-'));
const certs = join(dir, 'certs');
const other = join(dir, 'other');

function clientPortArgs(from: string, name: string): string[] {
  return [
    '--cert_file',
    join(from, `${name}.crt`),
    '--key_file',
    join(from, `${name}.key`),
    '--trusted_ca_file',
    join(from, 'ca.crt'),
  ];
}

function peerPortArgs(from: string, name: string, ca: string): string[] {
  return [
    '--peer_cert_file',
    join(from, `${name}.crt`),
    '--peer_key_file',
    join(from, `${name}.key`),
    '--peer_trusted_ca_file',
    ca,
  ];
}

before(async () => {
  const made = await runCli(['certs', 'create', '--out', certs, '--nodes', 'node1,node2,node3,node4']);
  assert.equal(made.code, 0, made.stderr);
  const another = await runCli(['certs', 'create', '--out', other, '--nodes', 'node4']);
  assert.equal(another.code, 0, another.stderr);
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a TLS cluster made with certs create', { timeout: 240_000 }, () => {
  let c: ProcessCluster;
  const ca = join(certs, 'ca.crt');

  before(async () => {
    const node3Config = join(dir, 'node3.yaml');
    writeFileSync(
      node3Config,
      [
        `cert_file: ${join(certs, 'node3.crt')}`,
        `key_file: ${join(certs, 'node3.key')}`,
        `trusted_ca_file: ${ca}`,
        `peer_cert_file: ${join(certs, 'node3.crt')}`,
        `peer_key_file: ${join(certs, 'node3.key')}`,
        `peer_trusted_ca_file: ${ca}`,
        '',
      ].join('\n'),
    );
    c = await ProcessCluster.start({
      nodes: 3,
      extraArgs: ['--shards', '4'],
      argsOf: (name) =>
        name === 'node3'
          ? ['--config_file', node3Config]
          : [...clientPortArgs(certs, name), ...peerPortArgs(certs, name, ca)],
      clientTls: { ca: readFileSync(ca) },
    });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('put, get and cluster health through the CLI with --cacert', async () => {
    const endpoints = c.endpoints.join(',');
    const put = await runCli(['put', 'tls-key', 'over TLS', '--endpoints', endpoints, '--cacert', ca]);
    assert.equal(put.code, 0, `${put.stderr}\n${c.tails()}`);
    // RINGKV_CACERT instead of the flag, and one endpoint (it forwards or the client follows the leader).
    const get = await runCli(['get', 'tls-key', '--endpoints', c.nodes[2]!.endpoint], {
      env: { RINGKV_CACERT: ca },
    });
    assert.deepEqual([get.code, get.stdout], [0, 'over TLS\n'], get.stderr);
    const health = await runCli(['cluster', 'health', '--endpoints', endpoints, '--cacert', ca]);
    assert.equal(health.code, 0, `${health.stdout}${health.stderr}`);
    assert.equal(health.stdout.match(/is healthy/g)?.length, 3, health.stdout);
  });

  test("the admin port serves HTTPS with the client port's certificate; plain HTTP gets no answer", async () => {
    const node1 = c.nodes[0]!;
    const ready = await httpGet(https, node1.adminPort, '/readyz', { ca: readFileSync(ca) });
    assert.deepEqual(ready, { status: 200, body: 'ok\n' }, node1.tail());
    const metrics = await httpGet(https, node1.adminPort, '/metrics', { ca: readFileSync(ca) });
    assert.match(metrics.body, /^ringkv_has_leader\{shard="0"\} 1$/m);
    await assert.rejects(httpGet(http, node1.adminPort, '/readyz', {}), /socket hang up|ECONNRESET/);
    // The dashboard's data: the node asks every member over TLS, trusting the CA it serves with.
    const api = await httpGet(https, node1.adminPort, '/api/status', { ca: readFileSync(ca) });
    assert.equal(api.status, 200, api.body);
    const members = (JSON.parse(api.body) as { members: { nodeId: string; up: boolean }[] }).members;
    assert.deepEqual(
      members.map((m) => [m.nodeId, m.up]),
      [
        ['node1', true],
        ['node2', true],
        ['node3', true],
      ],
    );
  });

  test('a plaintext client is refused at once, and told to pass --cacert', async () => {
    const node1 = c.nodes[0]!;
    const get = await runCli(['get', 'tls-key', '--endpoints', node1.endpoint]);
    assert.equal(get.code, 1, get.stdout);
    assert.ok(get.elapsedMs < REFUSED_WITHIN_MS, `took ${get.elapsedMs} ms`);
    assert.match(get.stderr, /cannot reach .*if the nodes serve TLS, pass --cacert/);
    await waitUntil('node1 to log the plaintext client', 5000, () =>
      node1.output.some((l) => l.includes('refused a client connection: the other end does not speak TLS'))
        ? true
        : undefined,
    );
  });

  test('a client that trusts another CA is refused: the certificate is not trusted', async () => {
    const get = await runCli([
      'get',
      'tls-key',
      '--endpoints',
      c.nodes[0]!.endpoint,
      '--cacert',
      join(other, 'ca.crt'),
    ]);
    assert.equal(get.code, 1, get.stdout);
    assert.ok(get.elapsedMs < REFUSED_WITHIN_MS, `took ${get.elapsedMs} ms`);
    assert.match(get.stderr, /certificate/);
    assert.match(get.stderr, /the TLS handshake failed: --cacert must be the CA/);
  });

  test('a node whose peer certificate the others do not trust cannot join', async () => {
    // Its client-port certificate is the cluster's (the join call itself goes through), its peer
    // certificate another CA's: the members refuse its raft connections and it cannot verify theirs.
    const [port, raftPort] = (await freePorts(2)) as [number, number];
    const node4 = new ProcessNode(
      'node4',
      port,
      raftPort,
      [
        '--port',
        String(port),
        '--raft_port',
        String(raftPort),
        '--node_id',
        'node4',
        '--raft_dir',
        join(c.dir, 'node4'),
        `--join_addr=${c.nodes[0]!.endpoint}`,
        '--join_timeout',
        '15',
        '--admin_port',
        '0',
        ...clientPortArgs(certs, 'node4'),
        ...peerPortArgs(other, 'node4', join(other, 'ca.crt')),
      ],
      c.dir,
    );
    c.nodes.push(node4);
    node4.start();
    const exited = await waitUntil('node4 to give up joining', 90_000, () => node4.lastExit);
    assert.equal(exited.code, 1, node4.tail(60));
    const log = node4.output.join('\n');
    assert.match(log, /could not join the cluster/, node4.tail(60));
    assert.match(log, /TLS: certificate not trusted|refused a peer connection/, node4.tail(60));
    const members = c.nodes.slice(0, 3);
    assert.ok(
      members.some((n) => n.output.some((l) => /refused a peer connection|TLS: /.test(l))),
      c.tails(),
    );
    // The three members still serve.
    const put = await within(
      runCli(['put', 'after-join', 'ok', '--endpoints', c.endpoints.slice(0, 3).join(','), '--cacert', ca]),
      30_000,
    );
    assert.equal(put?.code, 0, `${put?.stderr}\n${c.tails()}`);
  });
});

describe('a TLS cluster with --client_cert_auth', { timeout: 180_000 }, () => {
  let c: ProcessCluster;
  const ca = join(certs, 'ca.crt');

  before(async () => {
    c = await ProcessCluster.start({
      nodes: 2,
      extraArgs: ['--shards', '2', '--client_cert_auth=true'],
      argsOf: (name) => [...clientPortArgs(certs, name), ...peerPortArgs(certs, name, ca)],
      clientTls: {
        ca: readFileSync(ca),
        cert: readFileSync(join(certs, 'client.crt')),
        key: readFileSync(join(certs, 'client.key')),
      },
    });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('a client without a certificate is refused', async () => {
    const put = await runCli(['put', 'k', 'v', '--endpoints', c.endpoints.join(','), '--cacert', ca]);
    assert.equal(put.code, 1, put.stdout);
    assert.ok(put.elapsedMs < REFUSED_WITHIN_MS, `took ${put.elapsedMs} ms`);
    assert.match(put.stderr, /--client_cert_auth/);
    const node1 = c.nodes[0]!;
    await waitUntil('a node to log the client without a certificate', 5000, () =>
      c.nodes.some((n) => n.output.some((l) => l.includes('the client presented no certificate')))
        ? true
        : undefined,
    );
    assert.ok(node1.running);
  });

  test('a client with the client certificate is served', async () => {
    const tls = ['--cacert', ca, '--cert', join(certs, 'client.crt'), '--key', join(certs, 'client.key')];
    const put = await runCli(['put', 'k', 'v', '--endpoints', c.endpoints.join(','), ...tls]);
    assert.equal(put.code, 0, `${put.stderr}\n${c.tails()}`);
    const get = await runCli(['get', 'k', '--endpoints', c.nodes[1]!.endpoint], {
      env: {
        RINGKV_CACERT: ca,
        RINGKV_CERT: join(certs, 'client.crt'),
        RINGKV_KEY: join(certs, 'client.key'),
      },
    });
    assert.deepEqual([get.code, get.stdout], [0, 'v\n'], get.stderr);
  });

  test("the dashboard's data: the node asks the members with its own certificate", async () => {
    const client = {
      ca: readFileSync(ca),
      cert: readFileSync(join(certs, 'client.crt')),
      key: readFileSync(join(certs, 'client.key')),
    };
    const api = await httpGet(https, c.nodes[1]!.adminPort, '/api/status', client);
    assert.equal(api.status, 200, api.body);
    const members = (JSON.parse(api.body) as { members: { nodeId: string; up: boolean }[] }).members;
    assert.deepEqual(
      members.map((m) => [m.nodeId, m.up]),
      [
        ['node1', true],
        ['node2', true],
      ],
    );
  });
});
