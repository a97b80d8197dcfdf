// TLS of the node's ports: what a secure server and a secure connection are given, and one clear
// line for a failed handshake. The certificates are PEM text (structured-cloneable, so that the
// client port's worker thread gets them too); reading files is the caller's.
//
// Imports nothing but node: modules (the client port's worker thread loads it).
import type http2 from 'node:http2';

/** A port served over TLS (h2 by ALPN). */
export interface ServerTls {
  /** This node's certificate (chain), PEM. */
  readonly cert: string;
  /** Its private key, PEM. */
  readonly key: string;
  /** CA certificates a client's certificate must chain to, PEM (required with requireClientCert). */
  readonly ca?: string;
  /** Ask every client for a certificate and refuse the connection unless it chains to `ca`. */
  readonly requireClientCert: boolean;
}

/**
 * Mutual TLS between nodes (the raft port): each end presents `cert` and requires the other's to
 * chain to `ca`; a connecting node also checks the name it dialled against the certificate's SANs.
 */
export interface PeerTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** node:http2's secure server options for `tls`. */
export function secureServerOptions(tls: ServerTls): http2.SecureServerOptions {
  if (tls.requireClientCert && (tls.ca === undefined || tls.ca === ''))
    throw new Error('ServerTls: requireClientCert needs the CA that client certificates chain to');
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    requestCert: tls.requireClientCert,
    rejectUnauthorized: tls.requireClientCert,
    // gRPC is HTTP/2 only: a TLS client that does not offer h2 is refused in the handshake.
    allowHTTP1: false,
  };
}

/** The raft port's server options: a peer's certificate is always required. */
export function peerServerTls(tls: PeerTls): ServerTls {
  return { cert: tls.cert, key: tls.key, ca: tls.ca, requireClientCert: true };
}

/**
 * Why a TLS handshake failed, in words an operator can act on. `err` is what node:tls reported
 * (`tlsClientError` on a server, the session's error on a client).
 */
export function describeTlsFailure(err: Error & { code?: string }): string {
  const code = err.code ?? '';
  const text = err.message.split('\n')[0] ?? '';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|http request/i.test(text))
    return 'the other end does not speak TLS (a plaintext client or server?)';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' || /did not return a certificate/.test(text))
    return 'the client presented no certificate, and this port requires one';
  if (/certificate required/.test(text))
    return 'the server requires a client certificate and none was presented';
  if (/alert (bad certificate|unknown ca|certificate unknown|decrypt error)/.test(text))
    return `the other end refused our certificate (${shortTls(text)})`;
  if (code === 'ECONNRESET' || /socket hang up/.test(text))
    return 'the other end closed the connection during the handshake (does it trust our certificate? does it speak TLS?)';
  if (/certificate|self[- ]signed|issuer|verify/i.test(text))
    return `certificate not trusted: ${shortTls(text)}${code === '' ? '' : ` (${code})`}`;
  return `TLS handshake failed: ${shortTls(text)}${code === '' ? '' : ` (${code})`}`;
}

/** OpenSSL's "…:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…" → its reason. */
function shortTls(text: string): string {
  const m = /SSL routines:[^:]*:([^:]+)/.exec(text);
  return (m?.[1] ?? text).trim();
}
