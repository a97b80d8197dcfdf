// Deterministic byte encoding of a ConfChange, stored as the data of a 'confChange' entry.
// Layout: [version=1][transition: 0 auto, 1 explicit][count: u16 BE] then per change
// [type: 0 addVoter, 1 addLearner, 2 removeNode][id length: u16 BE][id: UTF-8].

import { ConfChangeError } from './errors.ts';
import type { ConfChange, ConfChangeSingle, ConfChangeType } from './types.ts';
import { nodeId } from './types.ts';

const VERSION = 1;
const TYPES: readonly ConfChangeType[] = ['addVoter', 'addLearner', 'removeNode'];
const U16_MAX = 0xffff;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (cc.changes.length > U16_MAX) throw new ConfChangeError(`too many changes: ${cc.changes.length}`);
  const ids = cc.changes.map((c) => utf8Encoder.encode(c.nodeId));
  let size = 4;
  for (const id of ids) {
    if (id.byteLength > U16_MAX) throw new ConfChangeError(`node id too long: ${id.byteLength} bytes`);
    size += 3 + id.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
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
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const bad = (why: string): never => {
    throw new ConfChangeError(`cannot decode conf change (${data.byteLength} bytes): ${why}`);
  };
  if (data.byteLength < 4) bad('too short');
  if (data[0] !== VERSION) bad(`unknown version ${data[0]}`);
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
  if (at !== data.byteLength) bad(`${data.byteLength - at} trailing bytes`);
  return { changes, transition: transitionByte === 0 ? 'auto' : 'explicit' };
}
