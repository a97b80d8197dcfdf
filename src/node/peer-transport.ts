// The peer transport the node drives (src/transport: GrpcTransport on the raft port, MemoryTransport
// in tests; the contract is in src/transport/transport.ts).
export type { Transport as PeerTransport } from '../transport/index.ts';
