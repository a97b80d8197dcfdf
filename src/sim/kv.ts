// The replicated key-value state machine and the commands that travel in Raft entries. Every
// command carries (clientId, seq); the machine remembers the last seq applied per client so that a
// proposal delivered twice (a duplicated 'prop' message) takes effect once (Raft thesis §6.3).
// Snapshots serialise the map and the session table with sorted keys, so equal states give equal bytes.
import type { KvInput, KvOutput } from '../lincheck/types.ts';

export interface KvCommand {
  readonly clientId: number;
  readonly seq: number;
  readonly input: KvInput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify([cmd.clientId, cmd.seq, cmd.input]));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (!Array.isArray(parsed) || parsed.length !== 3)
    throw new Error(`kv: malformed command ${decoder.decode(data)}`);
  const [clientId, seq, input] = parsed as [unknown, unknown, unknown];
  if (
    typeof clientId !== 'number' ||
    typeof seq !== 'number' ||
    typeof input !== 'object' ||
    input === null
  ) {
    throw new Error(`kv: malformed command ${decoder.decode(data)}`);
  }
  return { clientId, seq, input: input as KvInput };
}

/** The result of applying a command: its output, or 'duplicate' when it was applied before. */
export type ApplyResult = KvOutput | 'duplicate';

export class KvStateMachine {
  private readonly data = new Map<string, string>();
  /** clientId -> highest seq applied. Invariant: a client has at most one request open, with a higher seq. */
  private readonly sessions = new Map<number, number>();
  private appliedCommands = 0;

  apply(cmd: KvCommand): ApplyResult {
    const last = this.sessions.get(cmd.clientId) ?? -1;
    if (cmd.seq <= last) return 'duplicate';
    this.sessions.set(cmd.clientId, cmd.seq);
    this.appliedCommands++;
    return this.execute(cmd.input);
  }

  private execute(input: KvInput): KvOutput {
    switch (input.kind) {
      case 'get':
        return this.read(input.key);
      case 'put':
        this.data.set(input.key, input.value);
        return { kind: 'put' };
      case 'append':
        this.data.set(input.key, (this.data.get(input.key) ?? '') + input.value);
        return { kind: 'append' };
      case 'delete':
        return { kind: 'delete', deleted: this.data.delete(input.key) };
      case 'cas': {
        const current = this.data.get(input.key);
        const matches = input.expected === null ? current === undefined : current === input.expected;
        if (matches) this.data.set(input.key, input.value);
        return { kind: 'cas', succeeded: matches };
      }
    }
  }

  /** A local read (served after ReadIndex confirmed it is linearizable). */
  read(key: string): KvOutput {
    const value = this.data.get(key);
    return value === undefined
      ? { kind: 'get', found: false, value: '' }
      : { kind: 'get', found: true, value };
  }

  get size(): number {
    return this.data.size;
  }

  get commandsApplied(): number {
    return this.appliedCommands;
  }

  /** Deterministic bytes: sorted data and sessions. */
  serialize(): Uint8Array {
    const data = [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const sessions = [...this.sessions.entries()].sort((a, b) => a[0] - b[0]);
    return encoder.encode(JSON.stringify({ data, sessions }));
  }

  static deserialize(bytes: Uint8Array): KvStateMachine {
    const kv = new KvStateMachine();
    if (bytes.length === 0) return kv; // the bootstrap snapshot carries no state
    const parsed = JSON.parse(decoder.decode(bytes)) as {
      data: [string, string][];
      sessions: [number, number][];
    };
    if (!Array.isArray(parsed.data) || !Array.isArray(parsed.sessions))
      throw new Error('kv: malformed snapshot');
    for (const [k, v] of parsed.data) kv.data.set(k, v);
    for (const [c, s] of parsed.sessions) kv.sessions.set(c, s);
    return kv;
  }
}
