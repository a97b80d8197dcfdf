// Linearizable reads by ReadIndex (§6.4): the leader records its commit index for each read
// request, then confirms it is still leader with one heartbeat round. The heartbeat carries the
// context of the newest pending request; a quorum of acks for it confirms every request queued
// before it too, so one round serves a whole batch.

import { assert } from './errors.ts';
import { bytesKey } from './messages.ts';
import type { Index, Message, NodeId } from './types.ts';

/** Bound on reads waiting for confirmation; beyond it new requests are dropped (callers time out). */
export const PENDING_READS_MAX = 4096;

export interface ReadIndexStatus {
  readonly request: Message;
  readonly index: Index;
  /** Heartbeat acks for this request (true = acked), shaped for quorum vote counting. */
  readonly acks: Map<NodeId, boolean>;
}

export class ReadOnlyQueue {
  private readonly pending = new Map<string, ReadIndexStatus>();
  /** Keys of `pending` in arrival order. Invariant: same key set as `pending`. */
  private queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Queues a read at the given commit index; false if a duplicate or the queue is full. */
  add(index: Index, request: Message): boolean {
    const key = bytesKey(request.context);
    if (this.pending.has(key) || this.queue.length >= PENDING_READS_MAX) return false;
    this.pending.set(key, { request, index, acks: new Map() });
    this.queue.push(key);
    return true;
  }

  /** Records a heartbeat ack for the request with this context; returns its acks, if pending. */
  recvAck(from: NodeId, context: Uint8Array): ReadonlyMap<NodeId, boolean> | undefined {
    const status = this.pending.get(bytesKey(context));
    if (status === undefined) return undefined;
    status.acks.set(from, true);
    return status.acks;
  }

  /** Removes and returns every request up to and including the one with this context. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = bytesKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done: ReadIndexStatus[] = [];
    for (let i = 0; i <= at; i++) {
      const k = this.queue[i]!;
      const status = this.pending.get(k);
      assert(status !== undefined, `read queue key without pending status`);
      done.push(status);
      this.pending.delete(k);
    }
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  /** Context of the newest pending request, to piggyback on heartbeats. */
  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.request.context;
  }
}
