// The public surface of src/transport: what the node imports. Everything else is internal.
export { MESSAGE_TYPES, wireSizeBoundBytes } from './codec.ts';
export { PeerCodecError, TransportBindError } from './errors.ts';
export {
  DEFAULT_GRPC_MESSAGE_BYTES_MAX,
  DEFAULT_TIMING,
  GrpcTransport,
  type GrpcTransportOptions,
} from './grpc-transport.ts';
export { silentLogger, type TransportLogger } from './log.ts';
export {
  MemoryNetwork,
  type MemoryNetworkOptions,
  MemoryTransport,
  type MemoryTransportOptions,
} from './memory-transport.ts';
export type { LinkTiming } from './peer-link.ts';
export { describeTlsFailure, type PeerTls, type ServerTls } from './tls.ts';
export {
  clusterIdsCompatible,
  DEFAULT_LIMITS,
  type MessageHandler,
  type PeerTraffic,
  type Transport,
  type TransportLimits,
  type TransportStats,
  type UnreachableHandler,
} from './transport.ts';
export { throughTheWire } from './wire-message.ts';
