// Stable, human-readable text for the core's data: the vocabulary of every transcript.
// A change here rewrites every scenario file, so keep it boring and deterministic.
import { decodeConfChange } from '../index.ts';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  ReadState,
  Ready,
  Snapshot,
} from '../types.ts';

const decoder = new TextDecoder();

export function bytesToText(b: Uint8Array): string {
  return decoder.decode(b);
}

export function describeConfChange(cc: ConfChange): string {
  const letter = { addVoter: 'v', addLearner: 'l', removeNode: 'r' } as const;
  const parts = cc.changes.map((c) => `${letter[c.type]}${c.nodeId}`);
  if (parts.length === 0) parts.push('leave-joint');
  if (cc.transition === 'explicit') parts.push('transition=explicit');
  if (cc.basis !== undefined) parts.push(`basis=[${describeConfState({ ...cc.basis, autoLeave: false })}]`);
  return parts.join(' ');
}

export function describeEntry(e: Entry): string {
  if (e.type === 'confChange')
    return `${e.term}/${e.index} confChange ${describeConfChange(decodeConfChange(e.data))}`;
  return `${e.term}/${e.index} normal ${JSON.stringify(bytesToText(e.data))}`;
}

export function describeEntries(es: readonly Entry[]): string {
  return `[${es.map(describeEntry).join(', ')}]`;
}

const list = (ids: readonly string[]): string => `(${ids.join(',')})`;

export function describeConfState(cs: ConfState): string {
  let s = `voters=${list(cs.voters)}`;
  if (cs.votersOutgoing.length > 0) s += `&&${list(cs.votersOutgoing)}`;
  if (cs.learners.length > 0) s += ` learners=${list(cs.learners)}`;
  if (cs.learnersNext.length > 0) s += ` learners_next=${list(cs.learnersNext)}`;
  if (cs.autoLeave) s += ' autoleave';
  return s;
}

export function describeHardState(hs: HardState): string {
  return `term=${hs.term} vote=${hs.vote === '' ? '0' : hs.vote} commit=${hs.commit}`;
}

export function describeSnapshot(s: Snapshot): string {
  const m = s.metadata;
  return `index=${m.index} term=${m.term} ${describeConfState(m.confState)} bytes=${s.data.length}`;
}

/** One message on one line: fields at their zero value are left out. */
export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  if (m.logTerm !== 0) s += ` log=${m.logTerm}/${m.index}`;
  else if (m.index !== 0) s += ` index=${m.index}`;
  if (m.commit !== 0) s += ` commit=${m.commit}`;
  if (m.reject) s += ' reject';
  if (m.rejectHint !== 0 || m.hintTerm !== 0) s += ` hint=${m.rejectHint}/${m.hintTerm}`;
  if (m.entries.length > 0) s += ` entries=${describeEntries(m.entries)}`;
  if (m.context.length > 0) s += ` ctx=${JSON.stringify(bytesToText(m.context))}`;
  const c = m.snapshot;
  if (c !== undefined) {
    s += ` snap=${c.metadata.term}/${c.metadata.index} chunk=${c.offset}+${c.data.length}/${c.totalBytes}`;
    if (c.done) s += ` done ${describeConfState(c.metadata.confState)}`;
  }
  return s;
}

export function describeReadState(r: ReadState): string {
  return `index=${r.index} ctx=${JSON.stringify(bytesToText(r.context))}`;
}

/** A Ready, one field per line, indented by two spaces; empty fields are left out. */
export function describeReady(rd: Ready, annotate: (m: Message) => string = () => ''): string[] {
  const out: string[] = [`Ready mustSync=${rd.mustSync}:`];
  if (rd.softState !== undefined) {
    const lead = rd.softState.leader === '' ? '0' : rd.softState.leader;
    out.push(`softState: leader=${lead} role=${rd.softState.role}`);
  }
  if (rd.hardState !== undefined) out.push(`hardState: ${describeHardState(rd.hardState)}`);
  if (rd.snapshot !== undefined) out.push(`snapshot: ${describeSnapshot(rd.snapshot)}`);
  if (rd.entries.length > 0) out.push('entries:', ...rd.entries.map((e) => `  ${describeEntry(e)}`));
  if (rd.committedEntries.length > 0) {
    out.push('committed:', ...rd.committedEntries.map((e) => `  ${describeEntry(e)}`));
  }
  if (rd.messages.length > 0) {
    out.push('messages:', ...rd.messages.map((m) => `  ${describeMessage(m)}${annotate(m)}`));
  }
  if (rd.readStates.length > 0)
    out.push('readStates:', ...rd.readStates.map((r) => `  ${describeReadState(r)}`));
  return out;
}
