// A follower acknowledges an append after the Ready that holds its entries is persisted. When a
// later message of the same batch overwrites those entries before that Ready (a leader of a later
// term, or a snapshot), the acknowledgement still queued would vouch for entries the follower no
// longer holds, and the leader of the earlier term, cut off from the later one, could count it into
// a quorum and commit what the later leader has overwritten (found by `ringkv sim --nodes 3`, seed
// 893452: a node resumed from a pause stepped a burst of both leaders' appends before one Ready).
// Raft.forgetAcksFrom drops them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msg, Network } from './testing/network.ts';
import { bytes } from './testing/node.ts';
import type { Entry, Message } from './types.ts';
import { index, term } from './types.ts';

const ent = (i: number, t: number, data: string): Entry => ({
  index: index(i),
  term: term(t),
  type: 'normal',
  data: bytes(data),
});

const acks = (ms: readonly Message[]): string[] =>
  ms.filter((m) => m.type === 'appResp' && !m.reject).map((m) => `${m.to} t${m.term} i${m.index}`);

/** Leader 1's append to 3 of two entries of term `t` after `last`. */
const appendTwo = (last: number, t: number, commit: number): Message =>
  msg('app', '1', '3', {
    term: term(t),
    index: index(last),
    logTerm: term(t),
    commit: index(commit),
    entries: [ent(last + 1, t, 'x'), ent(last + 2, t, 'y')],
  });

/** Node 3 of a cluster led by 1, all caught up: its last index, term and commit. */
function follower() {
  const net = new Network({ voters: ['1', '2', '3'] });
  net.campaign('1');
  net.node('1').rn.propose(bytes('a'));
  net.stabilize();
  const f = net.node('3');
  const st = f.rn.status();
  return { f, last: st.lastIndex, t: st.hardState.term, commit: st.hardState.commit };
}

test('an acknowledgement of entries a later leader overwrote in the same batch is not sent', () => {
  const { f, last, t, commit } = follower();
  // Leader 1 (term t) appends two entries; before 3's next Ready, leader 2 of term t + 1 overwrites
  // them with one of its own.
  f.rn.step(appendTwo(last, t, commit));
  f.rn.step(
    msg('app', '2', '3', {
      term: term(t + 1),
      index: last,
      logTerm: term(t),
      commit,
      entries: [ent(last + 1, t + 1, 'z')],
    }),
  );
  const rd = f.rn.ready();
  assert.deepEqual(
    rd.entries.map((e) => `${e.index}@${e.term}`),
    [`${last + 1}@${t + 1}`],
  );
  assert.deepEqual(acks(rd.messages), [`2 t${t + 1} i${last + 1}`], 'only the later leader is acknowledged');
});

test('an append that overlaps the log without overwriting it keeps the acknowledgements queued', () => {
  const { f, last, t, commit } = follower();
  f.rn.step(appendTwo(last, t, commit));
  // The same append again (a retransmission): nothing is overwritten.
  f.rn.step(appendTwo(last, t, commit));
  assert.deepEqual(acks(f.rn.ready().messages), [`1 t${t} i${last + 2}`, `1 t${t} i${last + 2}`]);
});

test('an acknowledgement of entries a snapshot replaced in the same batch is not sent', () => {
  const { f, last, t, commit } = follower();
  f.rn.step(appendTwo(last, t, commit));
  // Leader 2 of term t + 1 sends a snapshot at last + 3 whose log differs from 3's at last + 1.
  const confState = f.rn.status().confState;
  f.rn.step(
    msg('snap', '2', '3', {
      term: term(t + 1),
      snapshot: {
        metadata: { index: index(last + 3), term: term(t + 1), confState },
        totalBytes: 0,
        offset: 0,
        data: new Uint8Array(0),
        done: true,
      },
    }),
  );
  assert.deepEqual(acks(f.rn.ready().messages), [`2 t${t + 1} i${last + 3}`]);
});
