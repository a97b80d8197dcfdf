// Pairs calls with completions per client process while a history file is read, and hands out
// call/return times as event sequence numbers (0, 1, 2, … in file order).
import type { Operation } from '../types.ts';
import { HistoryFormatError } from './errors.ts';

/** Where an operation is in its file (1-based lines); returnLine is undefined while it stays open. */
export interface OperationLines {
  readonly callLine: number;
  readonly returnLine: number | undefined;
}

export interface ParsedHistory<I, O> {
  /** In call order. Open (indeterminate) operations have output undefined and returnTime Infinity. */
  readonly operations: Operation<I, O>[];
  /** Parallel to `operations`. */
  readonly lines: OperationLines[];
}

interface Slot<I, O> {
  readonly clientId: number;
  readonly input: I;
  /** The operation's name as written in the file (e.g. ':read'), to check completions against. */
  readonly f: string;
  readonly callTime: number;
  readonly callLine: number;
  output: O | undefined;
  returnTime: number;
  returnLine: number | undefined;
  dropped: boolean;
}

export interface OpenCall<I> {
  readonly input: I;
  readonly f: string;
  readonly callLine: number;
}

export class HistoryBuilder<I, O> {
  readonly #file: string;
  readonly #slots: Slot<I, O>[] = [];
  /** Process → index of its open slot. Invariant: a process has at most one open call. */
  readonly #open = new Map<number, number>();
  #time = 0;

  constructor(file: string) {
    this.#file = file;
  }

  error(line: number, reason: string): HistoryFormatError {
    return new HistoryFormatError(this.#file, line, reason);
  }

  invoke(process: number, f: string, input: I, line: number): void {
    const open = this.#open.get(process);
    if (open !== undefined) {
      const prior = this.#slots[open]!;
      throw this.error(
        line,
        `process ${process} invokes ${f} while its ${prior.f} from line ${prior.callLine} is still open`,
      );
    }
    this.#open.set(process, this.#slots.length);
    this.#slots.push({
      clientId: process,
      input,
      f,
      callTime: this.#time++,
      callLine: line,
      output: undefined,
      returnTime: Number.POSITIVE_INFINITY,
      returnLine: undefined,
      dropped: false,
    });
  }

  /** The process's open call, which a completion of operation `f` on `line` closes. */
  openCall(process: number, f: string, line: number): OpenCall<I> {
    const open = this.#open.get(process);
    if (open === undefined)
      throw this.error(line, `completion of ${f} for process ${process}, which has no open invocation`);
    const slot = this.#slots[open]!;
    if (slot.f !== f) {
      throw this.error(
        line,
        `completion of ${f} for process ${process}, whose open invocation (line ${slot.callLine}) is ${slot.f}`,
      );
    }
    return slot;
  }

  /** The call returned; `output` undefined means it returned without a known result. */
  complete(process: number, f: string, output: O | undefined, line: number): void {
    const slot = this.#close(process, f, line);
    slot.output = output;
    slot.returnTime = this.#time++;
    slot.returnLine = line;
  }

  /** Indeterminate: the call stays open to the end of the history (it may take effect later, or never). */
  leaveOpen(process: number, f: string, line: number): void {
    this.#close(process, f, line);
  }

  /** The call definitely did not take effect: it is left out of the history. */
  drop(process: number, f: string, line: number): void {
    this.#close(process, f, line).dropped = true;
  }

  build(): ParsedHistory<I, O> {
    const kept = this.#slots.filter((s) => !s.dropped);
    return {
      operations: kept.map((s) => ({
        clientId: s.clientId,
        input: s.input,
        output: s.output,
        callTime: s.callTime,
        returnTime: s.returnTime,
      })),
      lines: kept.map((s) => ({ callLine: s.callLine, returnLine: s.returnLine })),
    };
  }

  #close(process: number, f: string, line: number): Slot<I, O> {
    this.openCall(process, f, line);
    const index = this.#open.get(process)!;
    this.#open.delete(process);
    return this.#slots[index]!;
  }
}
