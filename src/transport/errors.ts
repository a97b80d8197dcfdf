// Expected failures of the peer transport. A broken invariant (a bug) throws a plain Error with the
// values instead; these classes are for what a peer or the network can do to us.

/** A message from a peer that cannot be turned into a Raft Message (bad enum, value beyond 2^53…). */
export class PeerCodecError extends Error {
  override readonly name = 'PeerCodecError';
  readonly code = 'PEER_MESSAGE_INVALID';
  /** The wire field that was wrong, e.g. 'message.entries[3].index'. */
  readonly field: string;

  constructor(field: string, detail: string) {
    super(`invalid peer message: ${field}: ${detail}`);
    this.field = field;
  }
}

/** The raft port could not be bound (in use, bad address, no permission). */
export class TransportBindError extends Error {
  override readonly name = 'TransportBindError';
  readonly code = 'RAFT_PORT_BIND_FAILED';
  readonly address: string;

  constructor(address: string, cause: Error) {
    super(`cannot listen for peer traffic on ${address}: ${cause.message}`, { cause });
    this.address = address;
  }
}

/** Why a peer stream's bytes could not be cut into gRPC messages. */
export type PeerFrameProblem = 'tooLarge' | 'compressed' | 'truncated';

/** A peer stream whose gRPC framing is broken or over our bound: the stream is refused. */
export class PeerFrameError extends Error {
  override readonly name = 'PeerFrameError';
  readonly code = 'PEER_FRAME_INVALID';
  readonly problem: PeerFrameProblem;

  constructor(problem: PeerFrameProblem, detail: string) {
    super(`invalid peer stream framing: ${detail}`);
    this.problem = problem;
  }
}
