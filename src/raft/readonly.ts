// Linearizable reads by ReadIndex (§6.4): the leader records its commit index for each read
// request, then confirms it is still leader with one heartbeat round. The heartbeat carries a
// token naming the newest pending request; a quorum of acks for it confirms every request queued
// before it too, so one round serves a whole batch.
//
// Tokens are the leader's own sequence numbers (decimal ASCII), not the callers' contexts: two
// nodes may well forward reads with the same context, and each must still be answered (etcd
// instead requires contexts to be unique across the group). The queue lives for one leadership
// (a new term starts a new queue), and responses of other terms are filtered by term.

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

const asciiEncoder = new TextEncoder();

export class ReadOnlyQueue {
  /** By token (the decimal sequence number). */
  private readonly pending = new Map<string, ReadIndexStatus>();
  /** Tokens of `pending` in arrival order. Invariant: same key set as `pending`. */
  private queue: string[] = [];
  private nextSeq = 1;

  get size(): number {
    return this.queue.length;
  }

  /** Queues a read at the given commit index and returns its token; undefined if the queue is full. */
  add(index: Index, request: Message): Uint8Array | undefined {
    if (this.queue.length >= PENDING_READS_MAX) return undefined;
    const key = String(this.nextSeq++);
    this.pending.set(key, { request, index, acks: new Map() });
    this.queue.push(key);
    return asciiEncoder.encode(key);
  }

  /** Records a heartbeat ack carrying a token; returns the acks of that request, if still pending. */
  recvAck(from: NodeId, token: Uint8Array): ReadonlyMap<NodeId, boolean> | undefined {
    const status = this.pending.get(bytesKey(token));
    if (status === undefined) return undefined;
    status.acks.set(from, true);
    return status.acks;
  }

  /** Removes and returns every request up to and including the one with this token. */
  advance(token: Uint8Array): ReadIndexStatus[] {
    const key = bytesKey(token);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done: ReadIndexStatus[] = [];
    for (let i = 0; i <= at; i++) {
      const k = this.queue[i]!;
      const status = this.pending.get(k);
      assert(status !== undefined, `read queue token ${k} without pending status`);
      done.push(status);
      this.pending.delete(k);
    }
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  /** Token of the newest pending request, to piggyback on heartbeats. */
  lastPendingToken(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : asciiEncoder.encode(k);
  }
}
