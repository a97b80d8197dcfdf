// The certificates `ringkv certs create` makes, for development and trying TLS out: a local CA, one
// certificate per node (server and client authentication, so that the same pair serves the client
// port, the peer port, and the node's own calls to other nodes), and one client certificate for the
// CLI. RSA 2048 keys from node:crypto (native); node-forge only builds and signs the X.509
// structures (node:crypto cannot create certificates). Returns PEM text; writing files is the
// command's (certs.ts).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface CertPair {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM private key (PKCS#8). */
  readonly key: string;
}

export interface GeneratedCerts {
  readonly ca: CertPair;
  /** Per node name, in the order given. */
  readonly nodes: ReadonlyMap<string, CertPair>;
  readonly client: CertPair;
}

export interface GenerateOptions {
  /** Node names: each gets a certificate with CN and a DNS name of its own. */
  readonly nodes: readonly string[];
  /** Host names and IP addresses every node certificate is valid for (its SANs besides its name). */
  readonly hosts: readonly string[];
  /** Validity from now, in days. */
  readonly validDays: number;
  /** The client certificate's common name. */
  readonly clientName: string;
  readonly now?: Date;
}

/** Bounds: a development cluster is small, and every certificate costs an RSA key (~100 ms). */
export const NODES_MAX = 64;
export const HOSTS_MAX = 64;
export const VALID_DAYS_MAX = 3650;

/** A name usable as a node's file name, CN and DNS SAN. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Why these options cannot be generated, or undefined when they can. */
export function problemWith(o: GenerateOptions): string | undefined {
  if (o.nodes.length === 0) return '--nodes is empty; give node1,node2,…';
  if (o.nodes.length > NODES_MAX) return `--nodes: at most ${NODES_MAX} nodes, got ${o.nodes.length}`;
  for (const n of o.nodes) {
    if (!NAME.test(n)) return `--nodes: '${n}' may only hold letters, digits, '.', '_' and '-'`;
    if (n === 'ca' || n === o.clientName) return `--nodes: '${n}' would overwrite the ${n} certificate`;
  }
  if (new Set(o.nodes).size !== o.nodes.length) return '--nodes: a node is named twice';
  if (o.hosts.length > HOSTS_MAX) return `--hosts: at most ${HOSTS_MAX}, got ${o.hosts.length}`;
  for (const h of o.hosts) {
    if (isIP(h) === 0 && !/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(h))
      return `--hosts: '${h}' is neither a host name nor an IP address`;
  }
  if (!(Number.isSafeInteger(o.validDays) && o.validDays >= 1 && o.validDays <= VALID_DAYS_MAX))
    return `--days must be an integer from 1 to ${VALID_DAYS_MAX}, got ${o.validDays}`;
  return undefined;
}

export function generateCerts(o: GenerateOptions): GeneratedCerts {
  const problem = problemWith(o);
  if (problem !== undefined) throw new RangeError(problem);
  const now = o.now ?? new Date();
  const notAfter = new Date(now.getTime() + o.validDays * 86_400_000);
  const caKeys = newKeys();
  // A name of its own per CA: a certificate checked against another `certs create`'s CA then fails
  // as "unable to get local issuer certificate", not as a signature failure under the same name.
  const caName = [{ name: 'commonName', value: `ringkv development CA ${randomBytes(4).toString('hex')}` }];
  const ca = signed({
    keys: caKeys,
    subject: caName,
    issuer: caName,
    issuerKeys: caKeys,
    notBefore: now,
    notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  const leaf = (cn: string, usage: object, altNames: object[]): CertPair =>
    signed({
      keys: newKeys(),
      subject: [{ name: 'commonName', value: cn }],
      issuer: caName,
      issuerKeys: caKeys,
      notBefore: now,
      notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', ...usage },
        ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
      ],
    });
  const nodes = new Map<string, CertPair>();
  for (const name of o.nodes) {
    const hosts = [name, ...o.hosts.filter((h) => h !== name)];
    nodes.set(name, leaf(name, { serverAuth: true, clientAuth: true }, hosts.map(altName)));
  }
  const client = leaf(o.clientName, { clientAuth: true }, []);
  return { ca: { cert: ca.cert, key: caKeys.keyPem }, nodes, client };
}

/** A SAN entry: type 7 is an IP address, 2 a DNS name (RFC 5280 GeneralName). */
function altName(host: string): object {
  return isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host };
}

interface Keys {
  readonly keyPem: string;
  readonly publicKey: forge.pki.PublicKey;
  readonly privateKey: forge.pki.rsa.PrivateKey;
}

function newKeys(): Keys {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return {
    keyPem,
    privateKey: forgeKey,
    publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e),
  };
}

function signed(o: {
  readonly keys: Keys;
  readonly subject: forge.pki.CertificateField[];
  readonly issuer: forge.pki.CertificateField[];
  readonly issuerKeys: Keys;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: object[];
}): CertPair {
  const cert = forge.pki.createCertificate();
  cert.publicKey = o.keys.publicKey;
  // A positive 128-bit serial: the high bit cleared so that DER does not read it as negative.
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  cert.serialNumber = serial.toString('hex');
  // A minute back, so that a machine whose clock is slightly behind still accepts it.
  cert.validity.notBefore = new Date(o.notBefore.getTime() - 60_000);
  cert.validity.notAfter = o.notAfter;
  cert.setSubject(o.subject);
  cert.setIssuer(o.issuer);
  cert.setExtensions(o.extensions);
  cert.sign(o.issuerKeys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: o.keys.keyPem };
}
