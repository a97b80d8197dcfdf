// The client history of a chaos run, recorded as it happens: one event per call and one per outcome,
// in the order the chaos process saw them. The checker's operations (src/lincheck's KvOperation)
// and the history file are both derived from this one list, so the file says exactly what was
// checked: an operation's call and return times are the positions of its two events (what the
// jepsen-kv parser makes of a file, too).
//
// Outcomes, as Jepsen has them:
//   ok    the operation happened, with this result;
//   fail  it certainly did not happen (a failed read; a write the client reports UNAVAILABLE or
//         RESOURCE_EXHAUSTED, which were never started): left out of the check;
//   info  it may or may not have happened, now or later (a write whose answer was lost): checked as
//         indeterminate (no output, return time Infinity), and the process that issued it is never
//         used again (a worker continues as a new process, as in Jepsen).
import type { KvInput, KvOperation, KvOutput } from '../../lincheck/index.ts';

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryEvent {
  readonly type: EventType;
  /** When the chaos process saw it, in ms on the recorder's clock (a chaos run: since the run started). */
  readonly timeMs: number;
  readonly process: number;
  readonly input: KvInput;
  /** Only on ok. */
  readonly output?: KvOutput;
  /** On fail and info: the error's code, for the reader of the file. */
  readonly error?: string;
}

/** A call that has not had its outcome yet. */
export interface OpenCall {
  readonly process: number;
  readonly input: KvInput;
  /** Position of its invoke event. */
  readonly at: number;
}

/** Bound on the events kept: a run stops issuing operations before it (two events per operation). */
export const HISTORY_EVENTS_MAX = 4_000_000;

export class HistoryRecorder {
  private readonly list: HistoryEvent[] = [];
  private readonly now: () => number;
  /** Invariant: a process has at most one open call (each worker waits for its call's outcome). */
  private readonly open = new Map<number, OpenCall>();
  private counts = { ok: 0, fail: 0, info: 0 };

  /**
   * `now`: the clock of the times written beside the events, in ms (default: since the recorder was
   * made; a chaos run passes its timeline's, so that events and faults share one origin).
   */
  constructor(now?: () => number) {
    const t0Ms = performance.now();
    this.now = now ?? (() => performance.now() - t0Ms);
  }

  private time(): number {
    return this.now();
  }

  get events(): readonly HistoryEvent[] {
    return this.list;
  }

  /** True when no more calls may start (the bound is reached). */
  get full(): boolean {
    return this.list.length + 2 * this.open.size + 2 > HISTORY_EVENTS_MAX;
  }

  get okCount(): number {
    return this.counts.ok;
  }

  get failCount(): number {
    return this.counts.fail;
  }

  get infoCount(): number {
    return this.counts.info;
  }

  invoke(process: number, input: KvInput): OpenCall {
    if (this.open.has(process)) throw new Error(`history: process ${process} already has an open call`);
    if (this.full) throw new Error(`history: more than ${HISTORY_EVENTS_MAX} events`);
    const call = { process, input, at: this.list.length };
    this.list.push({ type: 'invoke', timeMs: this.time(), process, input });
    this.open.set(process, call);
    return call;
  }

  ok(call: OpenCall, output: KvOutput): void {
    if (output.kind !== call.input.kind)
      throw new Error(`history: a ${call.input.kind} cannot return a ${output.kind} result`);
    this.close(call, { type: 'ok', timeMs: this.time(), process: call.process, input: call.input, output });
    this.counts.ok++;
  }

  fail(call: OpenCall, error: string): void {
    this.close(call, { type: 'fail', timeMs: this.time(), process: call.process, input: call.input, error });
    this.counts.fail++;
  }

  info(call: OpenCall, error: string): void {
    this.close(call, { type: 'info', timeMs: this.time(), process: call.process, input: call.input, error });
    this.counts.info++;
  }

  private close(call: OpenCall, event: HistoryEvent): void {
    if (this.open.get(call.process) !== call)
      throw new Error(`history: process ${call.process} has no such open call (at ${call.at})`);
    this.open.delete(call.process);
    this.list.push(event);
  }
}

/**
 * The operations to check: ok ones with their output, info ones as indeterminate (output undefined,
 * return time Infinity), fail ones left out; a call still open counts as indeterminate.
 */
export function operationsOf(events: readonly HistoryEvent[]): KvOperation[] {
  const open = new Map<number, { input: KvInput; at: number }>();
  const ops: KvOperation[] = [];
  events.forEach((e, at) => {
    if (e.type === 'invoke') {
      open.set(e.process, { input: e.input, at });
      return;
    }
    const call = open.get(e.process);
    if (call === undefined)
      throw new Error(`history: ${e.type} of process ${e.process} at ${at} without a call`);
    open.delete(e.process);
    if (e.type === 'fail') return;
    ops.push({
      clientId: e.process,
      input: call.input,
      output: e.type === 'ok' ? e.output : undefined,
      callTime: call.at,
      returnTime: e.type === 'ok' ? at : Number.POSITIVE_INFINITY,
    });
  });
  for (const [process, call] of open)
    ops.push({
      clientId: process,
      input: call.input,
      output: undefined,
      callTime: call.at,
      returnTime: Number.POSITIVE_INFINITY,
    });
  return ops;
}

/**
 * One event as a jepsen-kv line (one EDN map). get and put lines are what
 * `ringkv check-history --format jepsen-kv` reads today, except that a get of an absent key returns
 * `:value nil` (Jepsen's absent; the parser wants a string there). delete and compare-and-swap are
 * written the way the format would carry them (the parser does not read them yet):
 *   {:process 3, :type :invoke, :f :delete, :key "k", :value nil}
 *   {:process 3, :type :ok, :f :delete, :key "k", :value nil, :deleted true}
 *   {:process 4, :type :invoke, :f :cas, :key "k", :expected "old", :value "new"}   (:expected nil: only if absent)
 *   {:process 4, :type :ok, :f :cas, :key "k", :expected "old", :value "new", :succeeded false}
 * fail and info lines carry `:error "<code>"`; every line ends with `:time`, in nanoseconds on the
 * recorder's clock (since the run started, as in timeline.log; Jepsen writes it so too). The
 * checker goes by line order, not by it.
 */
export function jepsenKvLine(e: HistoryEvent): string {
  const fields: string[] = [`:process ${e.process}`, `:type :${e.type}`, `:f :${e.input.kind}`];
  fields.push(`:key ${edn(e.input.key)}`);
  const input = e.input;
  switch (input.kind) {
    case 'get': {
      const out = e.output;
      const value = out?.kind === 'get' && out.found ? edn(out.value) : 'nil';
      fields.push(`:value ${value}`);
      break;
    }
    case 'put':
    case 'append':
      fields.push(`:value ${edn(input.value)}`);
      break;
    case 'delete':
      fields.push(':value nil');
      if (e.output?.kind === 'delete') fields.push(`:deleted ${e.output.deleted}`);
      break;
    case 'cas':
      fields.push(`:expected ${input.expected === null ? 'nil' : edn(input.expected)}`);
      fields.push(`:value ${edn(input.value)}`);
      if (e.output?.kind === 'cas') fields.push(`:succeeded ${e.output.succeeded}`);
      break;
  }
  if (e.error !== undefined) fields.push(`:error ${edn(e.error)}`);
  fields.push(`:time ${Math.round(e.timeMs * 1e6)}`);
  return `{${fields.join(', ')}}`;
}

/** An EDN string literal. */
function edn(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')}"`;
}
