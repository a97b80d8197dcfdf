// A node answers a member it hears from before its member list names it: it looks the member's raft
// address up in the Status of the members it knows (found by `ringkv sim --real --nodes 4`, seed 67:
// restarted with an older member list, a node never answered the metadata group's new leader, so
// never learned of it, for good).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { MemberInfo } from './metadata.ts';
import type { ClusterRpc, PeerStatus } from './options.ts';
import { LOOKUP_RETRY_MS, PeerLookup, type PeerLookupHost } from './peer-lookup.ts';

const n4: MemberInfo = { nodeId: 'n4', clientAddr: 'n4:1', raftAddr: 'n4:2' };

function statusOf(nodeId: string, members: MemberInfo[]): PeerStatus {
  return {
    nodeId,
    clusterId: 'c',
    members,
    applied: new Map(),
    metadataGroup: { leader: '', voters: [], learners: [], votersOutgoing: [], commit: 0, applied: 0 },
  };
}

function fixture(answers: Record<string, MemberInfo[] | 'down'>) {
  let nowMs = 1_000;
  const asked: string[] = [];
  const added: MemberInfo[] = [];
  const cluster: ClusterRpc = {
    join: () => Promise.reject(new Error('not used')),
    status: async (addr) => {
      asked.push(addr);
      const a = answers[addr];
      if (a === undefined || a === 'down') throw new Error(`${addr} does not answer`);
      return statusOf(addr, a);
    },
  };
  const host: PeerLookupHost = {
    id: 'n3',
    isClosing: false,
    cluster,
    clock: { nowMs: () => nowMs },
    logger: pino({ level: 'silent' }),
    lookupAddrs: () => Object.keys(answers),
    addPeerAddress: (m) => added.push(m),
  };
  return { lookup: new PeerLookup(host), asked, added, advance: (ms: number) => (nowMs += ms) };
}

const settle = () => new Promise((r) => setImmediate(r));

test('an unknown peer is looked up at the members known, past one that does not answer', async () => {
  const f = fixture({ 'n1:1': 'down', 'n2:1': [n4] });
  f.lookup.knows('n1');
  f.lookup.knows('n2');
  f.lookup.heardFrom('n1');
  f.lookup.heardFrom('n4');
  f.lookup.heardFrom('n4'); // one lookup at a time
  await settle();
  assert.deepEqual(f.asked, ['n1:1', 'n2:1']);
  assert.deepEqual(f.added, [n4]);
});

test('a peer known, or this node itself, is never looked up', async () => {
  const f = fixture({ 'n1:1': [n4] });
  f.lookup.knows('n4');
  f.lookup.heardFrom('n4');
  f.lookup.heardFrom('n3');
  await settle();
  assert.deepEqual(f.asked, []);
});

test('a peer no member lists (removed) is looked up again only after a pause', async () => {
  const f = fixture({ 'n1:1': [] });
  f.lookup.heardFrom('n9');
  await settle();
  f.lookup.heardFrom('n9');
  await settle();
  assert.deepEqual(f.asked, ['n1:1']);
  f.advance(LOOKUP_RETRY_MS);
  f.lookup.heardFrom('n9');
  await settle();
  assert.deepEqual(f.asked, ['n1:1', 'n1:1']);
  assert.deepEqual(f.added, []);
});
