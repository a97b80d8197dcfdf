// Deterministic byte encoding of a ConfChange, stored as the data of a 'confChange' entry.
// Layout: [version][transition: 0 auto, 1 explicit][count: u16 BE] then per change
// [type: 0 addVoter, 1 addLearner, 2 removeNode][id length: u16 BE][id: UTF-8].
// Version 1 ends there. Version 2 (a change with a basis) goes on with the basis's four lists,
// voters, votersOutgoing, learners, learnersNext, each [count: u16 BE] then per id
// [id length: u16 BE][id: UTF-8]. A change without a basis is written as version 1, so the entries
// of earlier releases and the ones written now decode alike.

import { ConfChangeError } from './errors.ts';
import type { ConfBasis, ConfChange, ConfChangeSingle, ConfChangeType, NodeId } from './types.ts';
import { nodeId } from './types.ts';

const VERSION_PLAIN = 1;
const VERSION_BASIS = 2;
const TYPES: readonly ConfChangeType[] = ['addVoter', 'addLearner', 'removeNode'];
const BASIS_LISTS = ['voters', 'votersOutgoing', 'learners', 'learnersNext'] as const;
const U16_MAX = 0xffff;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function idBytes(id: string): Uint8Array {
  const b = utf8Encoder.encode(id);
  if (b.byteLength > U16_MAX) throw new ConfChangeError(`node id too long: ${b.byteLength} bytes`);
  return b;
}

function checkCount(n: number, what: string): void {
  if (n > U16_MAX) throw new ConfChangeError(`too many ${what}: ${n}`);
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  checkCount(cc.changes.length, 'changes');
  const ids = cc.changes.map((c) => idBytes(c.nodeId));
  const basis = cc.basis === undefined ? [] : BASIS_LISTS.map((k) => cc.basis![k].map(idBytes));
  for (const [i, l] of basis.entries()) checkCount(l.length, `basis ${BASIS_LISTS[i]}`);
  let size = 4;
  for (const id of ids) size += 3 + id.byteLength;
  for (const l of basis) {
    size += 2;
    for (const id of l) size += 2 + id.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = cc.basis === undefined ? VERSION_PLAIN : VERSION_BASIS;
  out[1] = cc.transition === 'auto' ? 0 : 1;
  view.setUint16(2, cc.changes.length);
  let at = 4;
  cc.changes.forEach((c, i) => {
    const id = ids[i]!;
    out[at] = TYPES.indexOf(c.type);
    view.setUint16(at + 1, id.byteLength);
    out.set(id, at + 3);
    at += 3 + id.byteLength;
  });
  for (const l of basis) {
    view.setUint16(at, l.length);
    at += 2;
    for (const id of l) {
      view.setUint16(at, id.byteLength);
      out.set(id, at + 2);
      at += 2 + id.byteLength;
    }
  }
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const bad = (why: string): never => {
    throw new ConfChangeError(`cannot decode conf change (${data.byteLength} bytes): ${why}`);
  };
  if (data.byteLength < 4) bad('too short');
  const version = data[0];
  if (version !== VERSION_PLAIN && version !== VERSION_BASIS) bad(`unknown version ${version}`);
  const transitionByte = data[1];
  if (transitionByte !== 0 && transitionByte !== 1) bad(`unknown transition ${transitionByte}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = view.getUint16(2);
  const changes: ConfChangeSingle[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 3 > data.byteLength) bad(`truncated at change ${i}`);
    const type = TYPES[data[at]!];
    if (type === undefined) bad(`unknown change type ${data[at]}`);
    const len = view.getUint16(at + 1);
    if (at + 3 + len > data.byteLength) bad(`truncated id of change ${i}`);
    changes.push({ type: type!, nodeId: nodeId(utf8Decoder.decode(data.subarray(at + 3, at + 3 + len))) });
    at += 3 + len;
  }
  let basis: ConfBasis | undefined;
  if (version === VERSION_BASIS) {
    const lists: NodeId[][] = [];
    for (const name of BASIS_LISTS) {
      if (at + 2 > data.byteLength) bad(`truncated before basis ${name}`);
      const n = view.getUint16(at);
      at += 2;
      const l: NodeId[] = [];
      for (let i = 0; i < n; i++) {
        if (at + 2 > data.byteLength) bad(`truncated at basis ${name} ${i}`);
        const len = view.getUint16(at);
        if (at + 2 + len > data.byteLength) bad(`truncated id of basis ${name} ${i}`);
        l.push(nodeId(utf8Decoder.decode(data.subarray(at + 2, at + 2 + len))));
        at += 2 + len;
      }
      lists.push(l);
    }
    basis = { voters: lists[0]!, votersOutgoing: lists[1]!, learners: lists[2]!, learnersNext: lists[3]! };
  }
  if (at !== data.byteLength) bad(`${data.byteLength - at} trailing bytes`);
  const transition = transitionByte === 0 ? 'auto' : 'explicit';
  return basis === undefined ? { changes, transition } : { changes, transition, basis };
}
