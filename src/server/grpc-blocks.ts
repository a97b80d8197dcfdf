// The header blocks of gRPC answers, HPACK-encoded for src/transport/h2: the response headers and
// the trailers of a call that succeeded (built once), and a status's trailers (with or without the
// response headers before them: a trailers-only answer). Written as literals that leave the
// client's dynamic table alone, so one block serves every stream of every connection.
import { encodeGrpcMessage, GrpcStatus, type GrpcStatusCode } from '../transport/grpc-status.ts';
import { encodeIndexed, encodeLiteral } from '../transport/h2/hpack.ts';

/** The static table's `:status: 200` (RFC 7541 Appendix A). */
const STATUS_200 = 8;

function headerBlock(build: (out: number[]) => void): Buffer {
  const out: number[] = [];
  build(out);
  return Buffer.from(out);
}

/** The response headers of every gRPC answer, and the trailers of a call that succeeded. */
export const RESPONSE_HEADERS = headerBlock((o) => {
  encodeIndexed(STATUS_200, o);
  encodeLiteral('content-type', 'application/grpc+proto', o);
});
export const OK_TRAILERS = headerBlock((o) => {
  encodeLiteral('grpc-status', '0', o);
  encodeLiteral('grpc-message', 'OK', o);
});

/**
 * The trailers of a status, after the response headers (`withHeaders` false) or as a trailers-only
 * answer. Custom metadata values are UTF-8 on the wire.
 */
export function statusBlock(
  code: GrpcStatusCode,
  details: string,
  metadata: Readonly<Record<string, string | readonly string[]>>,
  withHeaders: boolean,
): Buffer {
  if (
    withHeaders === false &&
    code === GrpcStatus.OK &&
    details === 'OK' &&
    Object.keys(metadata).length === 0
  )
    return OK_TRAILERS;
  return headerBlock((o) => {
    if (withHeaders) {
      encodeIndexed(STATUS_200, o);
      encodeLiteral('content-type', 'application/grpc+proto', o);
    }
    for (const [k, v] of Object.entries(metadata))
      for (const one of typeof v === 'string' ? [v] : v)
        encodeLiteral(k, Buffer.from(one, 'utf8').toString('latin1'), o);
    encodeLiteral('grpc-status', String(code), o);
    encodeLiteral('grpc-message', encodeGrpcMessage(details), o);
  });
}
