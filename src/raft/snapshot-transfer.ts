// InstallSnapshot in chunks. The leader sends a follower that needs compacted entries its latest
// snapshot as 'snap' messages of at most snapshotChunkBytesMax bytes, paced like appends: at most
// maxInflightBytes of chunks per tick (the first window at once), so a large snapshot does not
// flood the transport. The follower assembles chunks strictly in order (out-of-order and duplicate
// chunks are ignored) and restores on the last one. A lost chunk stalls the assembly: the leader
// restarts the transfer on a failed reportSnapshot or after SNAPSHOT_TIMEOUT_ELECTIONS election
// timeouts without sending; a restarted transfer of the same snapshot resumes the assembly.
// When the storage's snapshot bytes are not at hand (SnapshotTemporarilyUnavailableError: being
// read back from disk), nothing is sent and the follower stays in probe; the next heartbeat
// response tries again, as in etcd.

import { restoreConfState } from './confchange/restore.ts';
import { assert, SnapshotTemporarilyUnavailableError } from './errors.ts';
import { switchToConfig } from './membership.ts';
import type { Raft } from './raft.ts';
import type { Progress } from './tracker/progress.ts';
import type { Message, NodeId, Snapshot, SnapshotMetadata, Term } from './types.ts';
import { index } from './types.ts';

/** A transfer not acknowledged within this many election timeouts is restarted. */
export const SNAPSHOT_TIMEOUT_ELECTIONS = 3;

/** Follower: a snapshot being received. Invariant: receivedBytes === sum of parts' lengths. */
export interface SnapshotAssembly {
  readonly from: NodeId;
  readonly term: Term;
  readonly metadata: SnapshotMetadata;
  readonly totalBytes: number;
  readonly parts: Uint8Array[];
  receivedBytes: number;
}

/** Leader: sends the snapshot to a follower whose next entries are compacted. */
export function maybeSendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  // Snapshots are large: only send to a follower known to be alive.
  if (!pr.recentActive) return false;
  let snap: Snapshot;
  try {
    snap = r.log.snapshot();
  } catch (e) {
    if (e instanceof SnapshotTemporarilyUnavailableError) return false;
    throw e;
  }
  assert(
    snap.metadata.index > 0,
    `need a snapshot for ${to} but the log holds none (first index ${r.log.firstIndex()})`,
  );
  // A snapshot older than the compaction point could never be followed by entries: a loop.
  assert(
    snap.metadata.index >= r.log.firstIndex() - 1,
    `storage snapshot at ${snap.metadata.index} is older than the compaction point ${r.log.firstIndex() - 1}`,
  );
  pr.becomeSnapshot(snap.metadata.index);
  pr.snapshotSending = snap;
  pr.snapshotSentBytes = 0;
  sendSnapshotWindow(r, to, pr);
  return true;
}

/** Sends the next chunks of the transfer, up to maxInflightBytes (at least one chunk). */
function sendSnapshotWindow(r: Raft, to: NodeId, pr: Progress): void {
  const snap = pr.snapshotSending;
  if (snap === undefined) return;
  const total = snap.data.byteLength;
  const chunkMax = r.cfg.snapshotChunkBytesMax;
  const budget = r.cfg.maxInflightBytes === 0 ? Number.POSITIVE_INFINITY : r.cfg.maxInflightBytes;
  let offset = pr.snapshotSentBytes;
  let sent = 0;
  do {
    const end = Math.min(total, offset + chunkMax);
    const m = r.message('snap', to);
    m.snapshot = {
      metadata: snap.metadata,
      offset,
      data: snap.data.subarray(offset, end),
      totalBytes: total,
      done: end === total,
    };
    r.send(m);
    sent += end - offset;
    offset = end;
  } while (offset < total && sent < budget);
  pr.snapshotSentBytes = offset;
  pr.snapshotTicks = 0; // the timeout counts from the last chunk sent
  if (offset === total) pr.snapshotSending = undefined; // all sent: only the acknowledgement is awaited
}

/** Leader, every tick: restarts transfers that were not acknowledged in time. */
export function tickSnapshotTransfers(r: Raft): void {
  const timeoutTicks = SNAPSHOT_TIMEOUT_ELECTIONS * r.cfg.electionTick;
  for (const id of r.prs.ids) {
    const pr = r.prs.progress.get(id)!;
    if (pr.state !== 'snapshot') continue;
    if (pr.snapshotSending !== undefined) {
      sendSnapshotWindow(r, id, pr);
      continue;
    }
    pr.snapshotTicks++;
    if (pr.snapshotTicks < timeoutTicks) continue;
    pr.pendingSnapshot = index(0);
    pr.becomeProbe(); // the next heartbeat response re-probes and re-sends if still needed
  }
}

/** Leader: the driver reports whether sending the snapshot succeeded. */
export function handleSnapStatus(m: Message, pr: Progress): void {
  if (pr.state !== 'snapshot') return;
  if (m.reject) pr.pendingSnapshot = index(0);
  pr.becomeProbe();
  // Wait for the follower's appResp (success) or a heartbeat interval (failure) before sending more.
  pr.msgAppFlowPaused = true;
}

/** Follower: one chunk of a snapshot. */
export function handleSnapshotChunk(r: Raft, m: Message): void {
  const chunk = m.snapshot;
  assert(chunk !== undefined, `'snap' message from ${m.from} without a chunk`);
  let a = r.assembly;
  const same =
    a !== undefined &&
    a.from === m.from &&
    a.term === m.term &&
    a.metadata.index === chunk.metadata.index &&
    a.metadata.term === chunk.metadata.term &&
    a.totalBytes === chunk.totalBytes;
  if (!same) {
    if (chunk.offset !== 0) return; // the start of this transfer was lost: wait for a restart
    a = {
      from: m.from,
      term: m.term,
      metadata: chunk.metadata,
      totalBytes: chunk.totalBytes,
      parts: [],
      receivedBytes: 0,
    };
    r.assembly = a;
  }
  assert(a !== undefined, 'snapshot assembly missing');
  // Duplicates (offset below) and chunks after a gap (offset above) are ignored; a restarted
  // transfer of the same snapshot resumes where this assembly stands.
  if (chunk.offset !== a.receivedBytes) return;
  assert(
    a.receivedBytes + chunk.data.byteLength <= a.totalBytes,
    `snapshot chunk overflows: ${a.receivedBytes}+${chunk.data.byteLength} > ${a.totalBytes}`,
  );
  a.parts.push(chunk.data);
  a.receivedBytes += chunk.data.byteLength;
  if (!chunk.done) return;
  assert(a.receivedBytes === a.totalBytes, `snapshot done at ${a.receivedBytes} of ${a.totalBytes} bytes`);
  r.assembly = undefined;
  handleSnapshot(r, m.from, { metadata: a.metadata, data: concat(a.parts, a.totalBytes) });
}

function concat(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(totalBytes);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function handleSnapshot(r: Raft, from: NodeId, snap: Snapshot): void {
  const resp = r.message('appResp', from);
  resp.index = restore(r, snap) ? r.log.lastIndex() : r.log.committed;
  r.send(resp);
}

/** Replaces log and membership by the snapshot; false if it brings nothing new. */
function restore(r: Raft, snap: Snapshot): boolean {
  const { index: at, term: t, confState: cs } = snap.metadata;
  if (at <= r.log.committed) return false;
  assert(r.role === 'follower', `${r.id} restoring a snapshot as ${r.role}`);
  // Unlike etcd, a snapshot that does not list us is accepted: a node being added may be sent a
  // snapshot taken before its addition; it then learns its membership from the log that follows,
  // exactly like a fresh node replaying the log (the core never assumes it is a member).
  if (r.log.matchTerm(at, t)) {
    // We already hold this prefix: just fast-forward the commit index.
    r.log.commitTo(at);
    return false;
  }
  const committed = r.log.committed;
  r.log.restore(snap);
  r.forgetAcksFrom(index(committed + 1));
  switchToConfig(r, restoreConfState(r.prs, cs, r.log.lastIndex()));
  return true;
}
