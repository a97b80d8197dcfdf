// The HTTP/2 side of one server-streaming gRPC call (Watch): the response headers with the first
// message, each message behind its 5-byte prefix in DATA frames, then `grpc-status` trailers; or a
// trailers-only status when it fails before any message. The client cancelling (RST_STREAM, or its
// connection gone) closes the stream: `onClose` tells the handler, which stops writing.
import { GrpcStatus, type GrpcStatusCode } from '../transport/grpc-status.ts';
import type { H2ServerStream } from '../transport/h2/server-connection.ts';
import { RESPONSE_HEADERS, statusBlock } from './grpc-blocks.ts';

/** What a streaming handler writes to. Used on the thread that owns the HTTP/2 session. */
export interface ServerStreamCall {
  /**
   * Queues one framed message (5-byte prefix included). Returns false when the stream holds more
   * than `bufferBytesMax` unsent (a client that does not read): the handler should end the call.
   */
  write(framed: Uint8Array): boolean;
  /** Ends the call: OK when `status` is undefined, else that status (idempotent; after close, nothing). */
  end(status?: {
    readonly code: GrpcStatusCode;
    readonly details: string;
    readonly trailers: Readonly<Record<string, string>>;
  }): void;
  /** Runs `fn` once when the stream closes for any reason (the client cancelled, or `end`). */
  onClose(fn: () => void): void;
}

/** Handles one server-streaming call: the request message (without its prefix) and the call. */
export type ServerStreamHandler = (message: Uint8Array, call: ServerStreamCall) => void;

export function serverStreamCall(stream: H2ServerStream, bufferBytesMax: number): ServerStreamCall {
  let ended = false;
  return {
    write(framed) {
      if (ended || !stream.writable) return false;
      stream.sendHeaders(RESPONSE_HEADERS);
      stream.sendData(framed);
      return stream.queuedBytes <= bufferBytesMax;
    },
    end(status) {
      if (ended) return;
      ended = true;
      if (!stream.writable) return;
      const code = status?.code ?? GrpcStatus.OK;
      const details = status?.details ?? 'OK';
      const trailers = status?.trailers ?? {};
      if (!stream.responded) stream.endTrailersOnly(statusBlock(code, details, trailers, true));
      else stream.end(statusBlock(code, details, trailers, false));
    },
    onClose(fn) {
      stream.onClosed(fn);
    },
  };
}
