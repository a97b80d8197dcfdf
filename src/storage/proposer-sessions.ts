// Which commands of each proposer a shard's state machine has applied, so that it applies each at
// most once. Every KV command carries its proposer's request id (clientId, seq: command.ts; one
// clientId per node process, its seqs increasing). A node's proposals reach a shard's log in the
// order of their seqs, except copies: a proposal the network delivered twice, one proposed again
// because its first copy may have been lost on the way to the leader, one that reached a leader late
// (src/node/group.ts). So the rule is: a command is applied only when its seq is above the highest
// seq of its proposer applied so far; any other is skipped, on every replica alike (it depends only
// on the log). A skipped command never takes effect, and neither will any later copy of it (the
// highest seq only grows): this is what lets a proposer tell "not applied, never will be" apart from
// "maybe".
//
// Bounded: at most SESSIONS_MAX proposers are remembered; beyond that the one that applied least
// recently (lowest log index) is forgotten. A proposer is one node process, so that is the number of
// node starts whose writes are remembered; a copy of a forgotten proposer's command would be applied.
//
// Part of the state's snapshot (kv-state.ts), sorted by clientId, so equal histories give equal bytes.
//   [u32 count] count × [u64 clientId][u64 seq][u64 index]      clientIds strictly increasing

/** Proposers remembered per shard. */
export const SESSIONS_MAX = 1024;

interface Session {
  /** Highest seq of the proposer applied. Invariant: > 0. */
  seq: number;
  /** Log index of that command. Invariant: grows with seq; <= the state's applied index. */
  index: number;
}

export class ProposerSessions {
  /** Invariant: size <= SESSIONS_MAX. */
  private readonly byClient = new Map<number, Session>();

  get size(): number {
    return this.byClient.size;
  }

  /** The highest seq of `clientId` applied (0: none remembered). */
  seqOf(clientId: number): number {
    return this.byClient.get(clientId)?.seq ?? 0;
  }

  /**
   * Whether the command (clientId, seq) at log index `index` is to be applied: its seq is above the
   * proposer's highest applied one. If so it becomes the highest.
   */
  admit(clientId: number, seq: number, index: number): boolean {
    const s = this.byClient.get(clientId);
    if (s !== undefined) {
      if (seq <= s.seq) return false;
      if (index <= s.index)
        throw new Error(`sessions: client ${clientId} applied at ${index} after ${s.index}`);
      s.seq = seq;
      s.index = index;
      return true;
    }
    if (seq < 1) throw new Error(`sessions: client ${clientId} with seq ${seq}`);
    this.byClient.set(clientId, { seq, index });
    if (this.byClient.size > SESSIONS_MAX) this.forgetOldest();
    return true;
  }

  /** Forgets the proposer whose last command applied at the lowest index (the same one on every replica). */
  private forgetOldest(): void {
    let oldest: number | undefined;
    let oldestIndex = Number.POSITIVE_INFINITY;
    for (const [clientId, s] of this.byClient) {
      if (s.index < oldestIndex) {
        oldest = clientId;
        oldestIndex = s.index;
      }
    }
    if (oldest !== undefined) this.byClient.delete(oldest);
  }

  /** Bytes serializeInto writes. */
  serializedBytes(): number {
    return 4 + 24 * this.byClient.size;
  }

  /** Writes the sessions at `off` (serializedBytes of them); returns the offset after them. */
  serializeInto(buf: Buffer, off: number): number {
    const ids = [...this.byClient.keys()].sort((a, b) => a - b);
    buf.writeUInt32LE(ids.length, off);
    let p = off + 4;
    for (const id of ids) {
      const s = this.byClient.get(id)!;
      writeU64(buf, p, id);
      writeU64(buf, p + 8, s.seq);
      writeU64(buf, p + 16, s.index);
      p += 24;
    }
    return p;
  }

  /**
   * Reads sessions written by serializeInto at `off`, none above `appliedIndex`; returns them and the
   * offset after them. Throws (with `fail`) on malformed bytes.
   */
  static readFrom(
    buf: Buffer,
    off: number,
    appliedIndex: number,
    fail: (why: string) => never,
  ): { sessions: ProposerSessions; end: number } {
    if (off + 4 > buf.length) fail('cut short before the sessions');
    const count = buf.readUInt32LE(off);
    if (count > SESSIONS_MAX) fail(`${count} sessions, more than ${SESSIONS_MAX}`);
    if (off + 4 + 24 * count > buf.length) fail(`cut short in the ${count} sessions`);
    const sessions = new ProposerSessions();
    let p = off + 4;
    let prev = -1;
    for (let i = 0; i < count; i++) {
      const id = readU64(buf, p);
      const seq = readU64(buf, p + 8);
      const index = readU64(buf, p + 16);
      if (id <= prev) fail(`sessions out of order at ${i}`);
      if (seq < 1 || index > appliedIndex)
        fail(`session ${i}: seq ${seq}, index ${index} (applied ${appliedIndex})`);
      sessions.byClient.set(id, { seq, index });
      prev = id;
      p += 24;
    }
    return { sessions, end: p };
  }
}

function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * 0x1_0000_0000 + buf.readUInt32LE(off);
}
