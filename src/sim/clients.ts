// Concurrent clients of the simulated cluster. Each client slot issues one operation at a time
// (put / get / delete / cas / append on a small key space) to the node it believes leads, retrying
// elsewhere when the node refuses before accepting (dropped proposal, node down). A write that was
// accepted but not answered in time is indeterminate: recorded with no output and returnTime
// Infinity, and the slot moves to a fresh client id, so no client id ever has two operations open.
// Reads use ReadIndex; a read attempt that stalls is retried (reads have no effect), and a read that
// never completes is left out of the history (an unanswered read constrains nothing).
import type { KvInput, KvOperation, KvOutput } from '../lincheck/types.ts';
import { ProposalDroppedError } from '../raft/index.ts';
import type { NodeId } from '../raft/types.ts';
import { NO_NODE } from '../raft/types.ts';
import { encodeCommand } from './kv.ts';
import type { Reply, SimNode } from './node.ts';
import type { Prng } from './prng.ts';

export interface ClientSettings {
  readonly clients: number;
  readonly keys: number;
  /** A write not answered within this is indeterminate. */
  readonly opTimeoutMs: number;
  /** A read attempt not answered within this is retried at another node. */
  readonly readAttemptMs: number;
  readonly thinkMinMs: number;
  readonly thinkMaxMs: number;
  /** Bound on operations in the history. */
  readonly opsMax: number;
}

export type ClientEvent =
  | { readonly kind: 'issue'; readonly slot: number }
  | { readonly kind: 'retry'; readonly slot: number; readonly serial: number }
  | { readonly kind: 'deadline'; readonly slot: number; readonly serial: number }
  | { readonly kind: 'readStall'; readonly slot: number; readonly serial: number; readonly attempt: number };

export interface ClientEnv {
  nowMs(): number;
  schedule(delayMs: number, ev: ClientEvent): void;
  node(id: NodeId): SimNode | undefined;
  /** Nodes a client may contact (current and recent members, up or down). */
  contactable(): readonly NodeId[];
  trace(line: string): void;
}

interface OpenOp {
  readonly serial: number;
  readonly clientId: number;
  readonly seq: number;
  readonly input: KvInput;
  readonly callMs: number;
  attempt: number;
  /** Node holding this op's read context, to cancel it on retry. */
  readAt: NodeId;
  /** A write was accepted by some node: from now on it may take effect, so it must not be re-sent. */
  accepted: boolean;
}

interface Slot {
  /** Liveness probes still to complete: a write, then a read (retried until they succeed). */
  probes: KvInput[];
  clientId: number;
  seq: number;
  leaderGuess: NodeId;
  op: OpenOp | undefined;
}

export class ClientPool {
  private readonly env: ClientEnv;
  private readonly rng: Prng;
  private readonly settings: ClientSettings;
  private readonly slots: Slot[] = [];
  private nextClientId = 0;
  private serials = 0;
  readonly history: KvOperation[] = [];
  /** The request sequence number of each indeterminate write in the history (clientId:seq names it). */
  readonly seqOf = new Map<KvOperation, number>();
  /** When false, slots finish their open operation and then stay idle. */
  issuing = true;
  stats = { completed: 0, indeterminate: 0, readsAbandoned: 0, dropsRetried: 0, lostConnections: 0 };

  constructor(env: ClientEnv, rng: Prng, settings: ClientSettings) {
    if (settings.clients < 1 || settings.keys < 1) throw new Error('ClientPool: need clients and keys');
    this.env = env;
    this.rng = rng;
    this.settings = settings;
    for (let i = 0; i < settings.clients; i++) {
      this.slots.push({
        probes: [],
        clientId: this.nextClientId++,
        seq: 0,
        leaderGuess: NO_NODE,
        op: undefined,
      });
    }
  }

  /** Schedules every slot's first operation. */
  begin(): void {
    for (let i = 0; i < this.slots.length; i++) this.env.schedule(this.think(), { kind: 'issue', slot: i });
  }

  get openOps(): number {
    return this.slots.filter((s) => s.op !== undefined).length;
  }

  handle(ev: ClientEvent): void {
    const slot = this.slots[ev.slot];
    if (slot === undefined) throw new Error(`ClientPool: no slot ${ev.slot}`);
    if (ev.kind === 'issue') {
      this.issue(ev.slot, slot);
      return;
    }
    const op = slot.op;
    if (op === undefined || op.serial !== ev.serial) return; // stale timer of a finished op
    if (ev.kind === 'retry') this.attempt(slot, op);
    else if (ev.kind === 'deadline') this.giveUp(ev.slot, slot, op, 'timed out');
    else if (ev.attempt === op.attempt) {
      this.env.node(op.readAt)?.cancelRead(readContext(op));
      this.retryLater(slot, op, NO_NODE);
    }
  }

  /** Issues one operation now on an idle slot (used for the liveness probes too). */
  private issue(slotIndex: number, slot: Slot, input?: KvInput): boolean {
    if (slot.op !== undefined || (!this.issuing && input === undefined)) return false;
    if (input === undefined && this.history.length >= this.settings.opsMax) return false;
    slot.seq++;
    const op: OpenOp = {
      serial: this.serials++,
      clientId: slot.clientId,
      seq: slot.seq,
      input: input ?? this.randomInput(slot),
      callMs: this.env.nowMs(),
      attempt: 0,
      readAt: NO_NODE,
      accepted: false,
    };
    slot.op = op;
    this.env.trace(`client ${op.clientId} invoke ${describeInput(op.input)}`);
    this.env.schedule(this.settings.opTimeoutMs, { kind: 'deadline', slot: slotIndex, serial: op.serial });
    this.attempt(slot, op);
    return true;
  }

  /**
   * Liveness phase: stop random operations; every slot must complete one probe write and one probe
   * read (each retried under a fresh client id if it times out).
   */
  startProbes(): void {
    this.issuing = false;
    this.slots.forEach((slot, i) => {
      const key = `k${i % this.settings.keys}`;
      slot.probes = [
        { kind: 'put', key, value: `probe-${i}` },
        { kind: 'get', key },
      ];
      this.nextProbe(i, slot);
    });
  }

  /** Slots whose probes have not all completed. */
  get probesPending(): number {
    return this.slots.filter((s) => s.probes.length > 0).length;
  }

  private nextProbe(slotIndex: number, slot: Slot): void {
    const probe = slot.probes[0];
    if (probe !== undefined && slot.op === undefined) this.issue(slotIndex, slot, probe);
  }

  private attempt(slot: Slot, op: OpenOp): void {
    op.attempt++;
    const target = this.chooseTarget(slot);
    const node = this.env.node(target);
    if (node === undefined || !node.up || node.paused) {
      this.retryLater(slot, op, NO_NODE); // refused, or no answer from a frozen node: nothing was sent
      return;
    }
    const reply = (r: Reply) => this.onReply(slot, op, op.attempt, r);
    if (op.input.kind === 'get') {
      op.readAt = target;
      node.read(readContext(op), op.input.key, reply);
      slot.leaderGuess = target;
      const slotIndex = this.slots.indexOf(slot);
      this.env.schedule(this.settings.readAttemptMs, {
        kind: 'readStall',
        slot: slotIndex,
        serial: op.serial,
        attempt: op.attempt,
      });
      return;
    }
    try {
      node.proposeWrite(`${op.clientId}:${op.seq}`, encodeCommand(op), reply);
      op.accepted = true;
      slot.leaderGuess = target;
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.stats.dropsRetried++;
      this.retryLater(slot, op, err.leader === target ? NO_NODE : err.leader);
    }
  }

  private chooseTarget(slot: Slot): NodeId {
    const guess = slot.leaderGuess;
    const candidates = this.env.contactable();
    if (guess !== NO_NODE && candidates.includes(guess)) return guess;
    return this.rng.pick(candidates);
  }

  private retryLater(slot: Slot, op: OpenOp, hint: NodeId): void {
    slot.leaderGuess = hint;
    const slotIndex = this.slots.indexOf(slot);
    this.env.schedule(this.rng.intBetween(10, 50), { kind: 'retry', slot: slotIndex, serial: op.serial });
  }

  private onReply(slot: Slot, op: OpenOp, attempt: number, r: Reply): void {
    if (slot.op !== op || attempt !== op.attempt) return; // a late answer to an abandoned attempt
    const slotIndex = this.slots.indexOf(slot);
    if (r.ok) {
      this.complete(slotIndex, slot, op, r.output);
      return;
    }
    this.stats.lostConnections++;
    if (op.input.kind === 'get') this.retryLater(slot, op, NO_NODE);
    else this.giveUp(slotIndex, slot, op, r.reason); // the write may still commit: indeterminate
  }

  private complete(slotIndex: number, slot: Slot, op: OpenOp, output: KvOutput): void {
    const now = this.env.nowMs();
    this.history.push({
      clientId: op.clientId,
      input: op.input,
      output,
      callTime: op.callMs,
      returnTime: now,
    });
    this.stats.completed++;
    this.env.trace(`client ${op.clientId} ok ${describeInput(op.input)} -> ${describeOutput(output)}`);
    slot.op = undefined;
    if (slot.probes[0] === op.input) slot.probes.shift();
    this.continueAfter(slotIndex, slot);
  }

  private continueAfter(slotIndex: number, slot: Slot): void {
    if (this.issuing) this.env.schedule(this.think(), { kind: 'issue', slot: slotIndex });
    else this.nextProbe(slotIndex, slot);
  }

  /** The op's fate is unknown: record it as indeterminate (writes) and continue under a new client id. */
  private giveUp(slotIndex: number, slot: Slot, op: OpenOp, why: string): void {
    if (op.input.kind === 'get') {
      this.env.node(op.readAt)?.cancelRead(readContext(op));
      this.stats.readsAbandoned++;
    } else if (op.accepted) {
      const recorded: KvOperation = {
        clientId: op.clientId,
        input: op.input,
        output: undefined,
        callTime: op.callMs,
        returnTime: Number.POSITIVE_INFINITY,
      };
      this.history.push(recorded);
      this.seqOf.set(recorded, op.seq);
      this.stats.indeterminate++;
    }
    this.env.trace(
      `client ${op.clientId} ${why}: ${describeInput(op.input)}${op.accepted ? ' (indeterminate)' : ''}`,
    );
    slot.op = undefined;
    slot.clientId = this.nextClientId++;
    slot.seq = 0;
    slot.leaderGuess = NO_NODE;
    this.continueAfter(slotIndex, slot);
  }

  /** At the end of a run: open writes become indeterminate, open reads are dropped. */
  abandonAll(): void {
    this.issuing = false;
    this.slots.forEach((slot, i) => {
      slot.probes = [];
      if (slot.op !== undefined) this.giveUp(i, slot, slot.op, 'still open at the end');
    });
  }

  private think(): number {
    return this.rng.intBetween(this.settings.thinkMinMs, this.settings.thinkMaxMs);
  }

  private randomInput(slot: Slot): KvInput {
    const key = `k${this.rng.nextInt(this.settings.keys)}`;
    const value = `${slot.clientId}.${slot.seq}`;
    const roll = this.rng.nextInt(100);
    if (roll < 40) return { kind: 'get', key };
    if (roll < 65) return { kind: 'put', key, value };
    if (roll < 72) return { kind: 'append', key, value: `+${value}` };
    if (roll < 80) return { kind: 'delete', key };
    return { kind: 'cas', key, expected: this.guessValue(key), value };
  }

  /** A cas expects a value recently seen for the key (so some succeed), or absence. */
  private guessValue(key: string): string | null {
    for (let i = this.history.length - 1, seen = 0; i >= 0 && seen < 20; i--, seen++) {
      const op = this.history[i] as KvOperation;
      if (op.input.key !== key) continue;
      if (op.input.kind === 'put' || op.input.kind === 'cas')
        return this.rng.chance(0.8) ? op.input.value : null;
      if (op.output?.kind === 'get') return op.output.found ? op.output.value : null;
    }
    return null;
  }
}

function readContext(op: OpenOp): string {
  return `${op.clientId}:${op.seq}:${op.attempt}`;
}

export function describeInput(input: KvInput): string {
  switch (input.kind) {
    case 'get':
    case 'delete':
      return `${input.kind}(${input.key})`;
    case 'put':
    case 'append':
      return `${input.kind}(${input.key}, ${input.value})`;
    case 'cas':
      return `cas(${input.key}, ${input.expected ?? 'absent'} -> ${input.value})`;
  }
}

function describeOutput(o: KvOutput): string {
  switch (o.kind) {
    case 'get':
      return o.found ? o.value : 'absent';
    case 'delete':
      return o.deleted ? 'deleted' : 'absent';
    case 'cas':
      return o.succeeded ? 'swapped' : 'mismatch';
    default:
      return 'ok';
  }
}
