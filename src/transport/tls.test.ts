// Mutual TLS on the raft port: two transports with certificates from one CA exchange messages; a
// peer whose certificate another CA signed gets no message through in either direction, and both
// ends log why; a plaintext sender is refused by a TLS raft port. Certificates: testdata/README.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, NodeId } from '../raft/types.ts';
import { nodeId } from '../raft/types.ts';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.ts';
import type { TransportLogger } from './log.ts';
import { message, until } from './testing.ts';
import { describeTlsFailure, type PeerTls } from './tls.ts';

const A = nodeId('a');
const B = nodeId('b');
const DATA = join(import.meta.dirname, 'testdata');

function peerTls(dir: string, name: string): PeerTls {
  const read = (f: string) => readFileSync(join(DATA, dir, f), 'utf8');
  return { cert: read(`${name}.crt`), key: read(`${name}.key`), ca: read('ca.crt') };
}

class MemoryLog implements TransportLogger {
  readonly lines: string[] = [];
  debug(): void {}
  info(): void {}
  warn(fields: Record<string, unknown>, msg: string): void {
    this.lines.push(`${msg} ${JSON.stringify(fields)}`);
  }
  error(fields: Record<string, unknown>, msg: string): void {
    this.lines.push(`${msg} ${JSON.stringify(fields)}`);
  }
}

const open = new Set<GrpcTransport>();
after(async () => {
  for (const t of open) await t.close();
});

async function started(
  localId: NodeId,
  extra: Partial<Omit<GrpcTransportOptions, 'localId'>>,
): Promise<{ t: GrpcTransport; got: Message[] }> {
  const t = new GrpcTransport({
    localId,
    listenHost: '127.0.0.1',
    listenPort: 0,
    timing: { backoffMinMs: 20, backoffMaxMs: 200 },
    ...extra,
  });
  open.add(t);
  await t.start();
  const got: Message[] = [];
  t.onMessage((_g, msg) => got.push(msg));
  return { t, got };
}

describe('GrpcTransport with mutual TLS', () => {
  it('delivers both ways between peers whose certificates one CA signed', async () => {
    const a = await started(A, { tls: peerTls('tls', 'a') });
    const b = await started(B, { tls: peerTls('tls', 'b') });
    a.t.setPeerAddress(B, b.t.address);
    b.t.setPeerAddress(A, a.t.address);
    a.t.send(0, message({ from: A, to: B }));
    await until('a→b over TLS', () => b.got.length === 1);
    b.t.send(3, message({ from: B, to: A }));
    await until('b→a over TLS', () => a.got.length === 1);
  });

  it('refuses a peer whose certificate another CA signed, both ways, and both ends say why', async () => {
    const logA = new MemoryLog();
    const logB = new MemoryLog();
    // b trusts a's CA, but a does not trust b's certificate.
    const otherB = { ...peerTls('tls-other', 'b'), ca: peerTls('tls', 'b').ca };
    const a = await started(A, { tls: peerTls('tls', 'a'), logger: logA });
    const b = await started(B, { tls: otherB, logger: logB });
    a.t.setPeerAddress(B, b.t.address);
    b.t.setPeerAddress(A, a.t.address);
    for (let i = 0; i < 10; i++) {
      a.t.send(0, message({ from: A, to: B }));
      b.t.send(0, message({ from: B, to: A }));
      await sleep(50);
    }
    await until('a to log that it does not trust b', () =>
      logA.lines.some((l) => l.includes('certificate not trusted')),
    );
    await until('a to log that it refused b', () =>
      logA.lines.some((l) => l.startsWith('refused a peer connection')),
    );
    await until('b to log that its connections fail the handshake', () =>
      logB.lines.some((l) => /TLS: |refused a peer connection/.test(l)),
    );
    assert.deepEqual([a.got.length, b.got.length], [0, 0]);
    assert.ok(a.t.stats().connectFailures > 0 && b.t.stats().connectFailures > 0);
  });

  it('refuses a plaintext sender', async () => {
    const log = new MemoryLog();
    const a = await started(A, { tls: peerTls('tls', 'a'), logger: log });
    const b = await started(B, {});
    b.t.setPeerAddress(A, a.t.address);
    for (let i = 0; i < 5; i++) {
      b.t.send(0, message({ from: B, to: A }));
      await sleep(50);
    }
    await until('a to log the plaintext peer', () => log.lines.some((l) => l.includes('does not speak TLS')));
    assert.equal(a.got.length, 0);
  });
});

describe('describeTlsFailure', () => {
  it('names the common handshake failures in an operator’s words', () => {
    const err = (message: string, code?: string) =>
      Object.assign(new Error(message), code === undefined ? {} : { code });
    assert.match(
      describeTlsFailure(
        err(
          '…:SSL routines:tls_validate_record_header:wrong version number:…',
          'ERR_SSL_WRONG_VERSION_NUMBER',
        ),
      ),
      /does not speak TLS/,
    );
    assert.match(
      describeTlsFailure(
        err('peer did not return a certificate', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'),
      ),
      /presented no certificate/,
    );
    assert.match(
      describeTlsFailure(err('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')),
      /^certificate not trusted: self-signed certificate in certificate chain/,
    );
    assert.match(
      describeTlsFailure(err('socket hang up', 'ECONNRESET')),
      /closed the connection during the handshake/,
    );
  });
});
