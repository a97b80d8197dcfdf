// The transcript harness, after etcd's rafttest.InteractionEnv: N RawNodes with MemoryStorage,
// a message queue standing in for the network, and a small command language. Every command
// returns the exact text of what happened (messages, Readys, state changes, applied entries),
// so a scenario file is a readable story and a behaviour change shows up as a diff.
//
// Commands (ids are node ids such as 1, 2, 3):
//   add-nodes N [voters=(..)] [learners=(..)] [index=I] [option=value …]   see NODE_OPTIONS;
//     snap-on-demand=false: the leader only has the snapshots `compact` made (default: a
//     snapshot of the state as applied now, like etcd's rafttest and etcd's server)
//   campaign ID | propose ID DATA | propose-conf-change ID v4 l5 r2 [transition=explicit]
//     [basis-voters=(..) basis-learners=(..) basis-voters-outgoing=(..) basis-learners-next=(..)]
//     (any basis-… option gives the change a basis: the configuration it was planned against)
//   read-index ID CTX | transfer-leadership from=ID to=ID
//   tick ID [N] | tick-heartbeat ID | tick-election ID | tick-all N [stabilize=false]
//   process-ready ID… | deliver-msgs ID… | drop-msgs [from=ID] [to=ID] [type=T] [nth=K] | stabilize [ID…]
//   partition ID,ID / ID,ID (messages across the cut are lost when sent or delivered) | heal
//   compact ID I | restart ID
//   report-unreachable ID PEER | report-snapshot ID PEER ok|fail
//   status ID | raft-state | raft-log ID | applied ID… | log-level none|info

import type { Config } from '../index.ts';
import { ProposalDroppedError } from '../index.ts';
import type { ConfChangeSingle, Message, NodeId } from '../types.ts';
import { index, nodeId } from '../types.ts';
import type { CmdArg } from './datadriven.ts';
import {
  describeConfState,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
} from './format.ts';
import { bytes, TestNode } from './node.ts';

type NodeConfig = Partial<Omit<Config, 'id' | 'storage' | 'rng'>>;

/** Options of add-nodes: name → how it sets the Config. */
const NODE_OPTIONS: Record<string, (c: Record<string, unknown>, v: string) => void> = {
  prevote: (c, v) => (c.preVote = v === 'true'),
  checkquorum: (c, v) => (c.checkQuorum = v === 'true'),
  'read-only': (c, v) => (c.readOnlyOption = v === 'lease' ? 'leaseBased' : 'safe'),
  election: (c, v) => (c.electionTick = Number(v)),
  heartbeat: (c, v) => (c.heartbeatTick = Number(v)),
  'max-inflight': (c, v) => (c.maxInflightMsgs = Number(v)),
  'max-inflight-bytes': (c, v) => (c.maxInflightBytes = Number(v)),
  'max-size-per-msg': (c, v) => (c.maxSizePerMsgBytes = Number(v)),
  'max-uncommitted-bytes': (c, v) => (c.maxUncommittedEntriesBytes = Number(v)),
  'max-committed-per-ready': (c, v) => (c.maxCommittedSizePerReadyBytes = Number(v)),
  'snap-chunk-bytes': (c, v) => (c.snapshotChunkBytesMax = Number(v)),
};

/** Bound on stabilize rounds: a scenario that does not settle is a bug, not a hang. */
const STABILIZE_ROUNDS_MAX = 500;
const TICKS_MAX = 10_000;

interface Observed {
  role: string;
  term: number;
}

export class InteractionEnv {
  readonly nodes: TestNode[] = [];
  /** Messages in flight, in the order they were sent. */
  queue: Message[] = [];
  /** Cut links, as "a|b" with a < b. */
  private readonly cuts = new Set<string>();
  private verbose = true;
  /** False inside `tick-all … verbose=false`: only role/term changes are printed. */
  private detail = true;
  private out: string[] = [];
  private readonly seed: number;

  constructor(seed = 1) {
    this.seed = seed;
  }

  /** Runs one command and returns its transcript ("ok" when it printed nothing). */
  handle(cmd: string, args: readonly CmdArg[]): string {
    this.out = [];
    try {
      this.dispatch(cmd, args);
    } catch (err) {
      this.print(`error: ${describeError(err)}`);
    }
    const text = this.out.join('\n');
    return text === '' ? 'ok' : text;
  }

  /** The command table: name → handler (args, positional args). */
  private readonly commands: Record<
    string,
    (c: { args: readonly CmdArg[]; pos: readonly string[] }) => void
  > = {
    'add-nodes': ({ args }) => {
      this.addNodes(args);
    },
    campaign: ({ pos }) => {
      this.onNode(one(pos), (n) => n.rn.campaign());
    },
    propose: ({ pos }) => {
      this.propose(one(pos), pos[1] ?? '');
    },
    'propose-conf-change': ({ args, pos }) => {
      this.proposeConfChange(one(pos), args);
    },
    'read-index': ({ pos }) => {
      this.onNode(one(pos), (n) => n.rn.readIndex(bytes(pos[1] ?? '')));
    },
    'transfer-leadership': ({ args }) => {
      this.onNode(nodeId(val(args, 'from')), (n) => n.rn.transferLeadership(nodeId(val(args, 'to'))));
    },
    tick: ({ pos }) => {
      this.tick(one(pos), Number(pos[1] ?? '1'));
    },
    'tick-heartbeat': ({ pos }) => {
      this.tick(one(pos), this.node(one(pos)).config.heartbeatTick ?? 1);
    },
    'tick-election': ({ pos }) => {
      this.tick(one(pos), this.node(one(pos)).config.electionTick ?? 10);
    },
    'tick-all': ({ args, pos }) => {
      this.tickAll(
        Number(pos[0] ?? '1'),
        opt(args, 'stabilize') !== 'false',
        opt(args, 'verbose') !== 'false',
      );
    },
    'process-ready': ({ pos }) => {
      this.forIds(pos, (id) => this.processReady(id));
    },
    'deliver-msgs': ({ pos }) => {
      this.forIds(pos, (id) => this.deliverMsgs(id));
    },
    'drop-msgs': ({ args }) => {
      this.dropMsgs(args);
    },
    stabilize: ({ pos }) => {
      this.stabilize(pos.length > 0 ? pos.map(nodeId) : this.ids());
    },
    partition: ({ pos }) => {
      this.partition(pos);
    },
    heal: () => {
      this.cuts.clear();
    },
    compact: ({ pos }) => {
      this.compact(one(pos), Number(pos[1]));
    },
    restart: ({ pos }) => {
      this.restart(one(pos));
    },
    'report-unreachable': ({ pos }) => {
      this.onNode(one(pos), (n) => n.rn.reportUnreachable(nodeId(pos[1] ?? '')));
    },
    'report-snapshot': ({ pos }) => {
      this.onNode(one(pos), (n) => n.rn.reportSnapshot(nodeId(pos[1] ?? ''), pos[2] === 'ok'));
    },
    status: ({ pos }) => {
      this.status(one(pos));
    },
    'raft-state': () => {
      this.raftState();
    },
    'raft-log': ({ pos }) => {
      this.raftLog(one(pos));
    },
    applied: ({ pos }) => {
      this.forIds(pos, (id) => this.print(`${id}: ${JSON.stringify(this.node(id).appliedData())}`));
    },
    'log-level': ({ pos }) => {
      this.verbose = pos[0] !== 'none';
    },
  };

  private dispatch(cmd: string, args: readonly CmdArg[]): void {
    const handler = this.commands[cmd];
    if (handler === undefined) throw new Error(`unknown command ${cmd}`);
    handler({ args, pos: positional(args) });
  }

  // ---- output helpers -------------------------------------------------------------------------

  /** Always printed (results the command was asked for, errors). */
  private print(line: string): void {
    this.out.push(line);
  }

  /** Printed unless log-level none or a quiet tick-all (the play-by-play). */
  private log(line: string): void {
    if (this.verbose && this.detail) this.out.push(line);
  }

  /** Role and term changes: printed unless log-level none. */
  private logState(line: string): void {
    if (this.verbose) this.out.push(line);
  }

  // ---- nodes ----------------------------------------------------------------------------------

  ids(): NodeId[] {
    return this.nodes.map((n) => n.id);
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id} (have ${this.ids().join(',')})`);
    return n;
  }

  private forIds(pos: readonly string[], fn: (id: NodeId) => void): void {
    const ids = pos.length > 0 ? pos.map(nodeId) : this.ids();
    for (const id of ids) fn(id);
  }

  private addNodes(args: readonly CmdArg[]): void {
    const count = Number(positional(args)[0]);
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`add-nodes: bad count ${count}`);
    const voters = list(args, 'voters').map(nodeId);
    const learners = list(args, 'learners').map(nodeId);
    const at = index(Number(opt(args, 'index') ?? (voters.length > 0 ? '1' : '0')));
    const config: Record<string, unknown> = {};
    for (const a of args) {
      const set = NODE_OPTIONS[a.key];
      if (set !== undefined) set(config, a.vals[0] ?? '');
    }
    const confState = { voters, votersOutgoing: [], learners, learnersNext: [], autoLeave: false };
    for (let k = 0; k < count; k++) {
      const id = nodeId(String(this.nodes.length + 1));
      const bootstrap = at > 0 ? { index: at, confState } : undefined;
      const n = new TestNode({
        id,
        seed: this.seed,
        stream: this.nodes.length,
        config: config as NodeConfig,
        snapshotOnDemand: opt(args, 'snap-on-demand') !== 'false',
        ...(bootstrap !== undefined ? { bootstrap } : {}),
      });
      this.nodes.push(n);
      this.log(`${id}: added with ${describeConfState(confState)} at index ${at}`);
    }
  }

  /** Runs an input on a node and logs the role/term changes it caused. */
  private onNode(id: NodeId, fn: (n: TestNode) => void): void {
    const n = this.node(id);
    const before = observe(n);
    try {
      fn(n);
    } finally {
      const after = observe(n);
      if (after.role !== before.role || after.term !== before.term) {
        this.logState(`${id} became ${after.role} at term ${after.term}`);
      }
    }
  }

  private propose(id: NodeId, data: string): void {
    this.onNode(id, (n) => n.rn.propose(bytes(data)));
  }

  private proposeConfChange(id: NodeId, args: readonly CmdArg[]): void {
    const changes: ConfChangeSingle[] = positional(args)
      .slice(1)
      .map((tok) => {
        const type = ({ v: 'addVoter', l: 'addLearner', r: 'removeNode' } as const)[
          tok[0] as 'v' | 'l' | 'r'
        ];
        if (type === undefined) throw new Error(`bad conf change ${tok} (want v<id>, l<id> or r<id>)`);
        return { type, nodeId: nodeId(tok.slice(1)) };
      });
    const transition = opt(args, 'transition') === 'explicit' ? 'explicit' : 'auto';
    const planned = args.some((a) => a.key.startsWith('basis-'));
    const basis = {
      voters: list(args, 'basis-voters').map(nodeId),
      votersOutgoing: list(args, 'basis-voters-outgoing').map(nodeId),
      learners: list(args, 'basis-learners').map(nodeId),
      learnersNext: list(args, 'basis-learners-next').map(nodeId),
    };
    this.onNode(id, (n) =>
      n.rn.proposeConfChange(planned ? { changes, transition, basis } : { changes, transition }),
    );
  }

  private tick(id: NodeId, count: number): void {
    if (!Number.isInteger(count) || count < 0 || count > TICKS_MAX)
      throw new Error(`bad tick count ${count}`);
    for (let k = 0; k < count; k++) this.onNode(id, (n) => n.rn.tick());
  }

  /** Ticks every node once per round; with stabilize, the network settles between rounds. */
  private tickAll(rounds: number, settle: boolean, detail: boolean): void {
    if (!Number.isInteger(rounds) || rounds < 0 || rounds > TICKS_MAX)
      throw new Error(`bad rounds ${rounds}`);
    this.detail = detail;
    try {
      for (let r = 0; r < rounds; r++) {
        for (const id of this.ids()) this.onNode(id, (n) => n.rn.tick());
        if (settle) this.stabilize(this.ids());
      }
    } finally {
      this.detail = true;
    }
  }

  // ---- the driver loop and the network ---------------------------------------------------------

  private processReady(id: NodeId): boolean {
    const n = this.node(id);
    if (!n.rn.hasReady()) return false;
    this.log(`> ${id} handling Ready`);
    const before = observe(n);
    const { rd, events } = n.handleReady();
    const cut = (m: Message): boolean => this.isCut(m.from, m.to);
    for (const line of describeReady(rd, (m) => (cut(m) ? ' DROPPED (partition)' : '')))
      this.log(`  ${line}`);
    for (const c of events.confChanges) {
      this.log(`  applied ${describeEntry(c.entry)} -> ${describeConfState(c.confState)}`);
    }
    const after = observe(n);
    if (after.role !== before.role || after.term !== before.term) {
      this.logState(`${this.detail ? '  ' : ''}${id} became ${after.role} at term ${after.term}`);
    }
    // A message sent across a cut link is lost, even if the link heals before it would arrive.
    this.queue.push(...rd.messages.filter((m) => !cut(m)));
    return true;
  }

  private isCut(a: NodeId, b: NodeId): boolean {
    return this.cuts.has(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  private deliverMsgs(id: NodeId): boolean {
    const mine = this.queue.filter((m) => m.to === id);
    if (mine.length === 0) return false;
    this.queue = this.queue.filter((m) => m.to !== id);
    this.log(`> ${id} receiving messages`);
    for (const m of mine) {
      if (this.isCut(m.from, m.to)) {
        this.log(`  ${describeMessage(m)} DROPPED (partition)`);
        continue;
      }
      this.log(`  ${describeMessage(m)}`);
      this.onNodeIndented(id, (n) => n.rn.step(m));
    }
    return true;
  }

  /** Like onNode, but indented under a "receiving messages" header, and errors do not abort. */
  private onNodeIndented(id: NodeId, fn: (n: TestNode) => void): void {
    const n = this.node(id);
    const before = observe(n);
    try {
      fn(n);
    } catch (err) {
      this.print(`  error: ${describeError(err)}`);
    }
    const after = observe(n);
    if (after.role !== before.role || after.term !== before.term) {
      this.logState(`${this.detail ? '  ' : ''}${id} became ${after.role} at term ${after.term}`);
    }
  }

  /** Drops queued messages matching from=/to=/type=; with nth=k only the k-th match (1-based). */
  private dropMsgs(args: readonly CmdArg[]): void {
    const from = opt(args, 'from');
    const to = opt(args, 'to');
    const type = opt(args, 'type');
    const nth = Number(opt(args, 'nth') ?? '0');
    let seen = 0;
    const match = (m: Message): boolean => {
      const hit =
        (from === undefined || m.from === from) &&
        (to === undefined || m.to === to) &&
        (type === undefined || m.type === type);
      if (!hit) return false;
      seen++;
      return nth === 0 || seen === nth;
    };
    const dropped = this.queue.filter(match);
    for (const m of dropped) this.log(`dropped: ${describeMessage(m)}`);
    this.queue = this.queue.filter((m) => !dropped.includes(m));
  }

  private stabilize(ids: readonly NodeId[]): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let progressed = false;
      for (const id of ids) progressed = this.processReady(id) || progressed;
      for (const id of ids) progressed = this.deliverMsgs(id) || progressed;
      if (!progressed) return;
    }
    throw new Error(`stabilize: not quiet after ${STABILIZE_ROUNDS_MAX} rounds (livelock?)`);
  }

  private partition(pos: readonly string[]): void {
    const slash = pos.indexOf('/');
    if (slash < 0) throw new Error('partition: want "A,B / C,D"');
    const left = pos
      .slice(0, slash)
      .flatMap((p) => p.split(','))
      .filter((s) => s !== '');
    const right = pos
      .slice(slash + 1)
      .flatMap((p) => p.split(','))
      .filter((s) => s !== '');
    for (const a of left) for (const b of right) this.cuts.add(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  private compact(id: NodeId, at: number): void {
    const n = this.node(id);
    n.compact(index(at));
    this.raftLog(id);
  }

  private restart(id: NodeId): void {
    this.node(id).restart();
    this.log(`${id} restarted from storage at applied=${this.node(id).appliedIndex}`);
  }

  // ---- inspection -------------------------------------------------------------------------------

  private status(id: NodeId): void {
    const s = this.node(id).rn.status();
    const lead = s.leader === '' ? '0' : s.leader;
    const tr = s.leadTransferee === '' ? '0' : s.leadTransferee;
    this.print(`${id}: role=${s.role} leader=${lead} ${describeHardState(s.hardState)}`);
    this.print(`  applied=${s.applied} lastIndex=${s.lastIndex} transferee=${tr}`);
    this.print(`  conf: ${describeConfState(s.confState)}`);
    if (s.progress === undefined) return;
    for (const [peer, p] of [...s.progress.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      this.print(`  ${peer}: match=${p.match} next=${p.next} ${p.state}${p.isLearner ? ' learner' : ''}`);
    }
  }

  private raftState(): void {
    for (const n of this.nodes) {
      const s = n.rn.status();
      const cs = s.confState;
      const member =
        cs.voters.includes(n.id) || cs.votersOutgoing.includes(n.id)
          ? 'voter'
          : cs.learners.includes(n.id)
            ? 'learner'
            : 'non-member';
      const lead = s.leader === '' ? '0' : s.leader;
      this.print(
        `${n.id}: ${s.role} (${member}) term=${s.hardState.term} leader=${lead} commit=${s.hardState.commit} applied=${n.appliedIndex}`,
      );
    }
  }

  private raftLog(id: NodeId): void {
    const st = this.node(id).storage;
    const first = st.firstIndex();
    const last = st.lastIndex();
    if (last < first) {
      this.print(`${id}: log empty: firstIndex=${first} lastIndex=${last}`);
      return;
    }
    this.print(`${id}: snapshot ${st.snapshot().metadata.term}/${st.snapshot().metadata.index}, log:`);
    for (const e of st.entries(first, index(last + 1), Number.MAX_SAFE_INTEGER))
      this.print(`  ${describeEntry(e)}`);
  }
}

// ---- small helpers ------------------------------------------------------------------------------

function observe(n: TestNode): Observed {
  const s = n.rn.status();
  return { role: s.role, term: s.hardState.term };
}

export function describeError(err: unknown): string {
  if (err instanceof ProposalDroppedError) {
    return `ProposalDroppedError reason=${err.reason} leader=${err.leader === '' ? '0' : err.leader}`;
  }
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return `${err.name}${typeof code === 'string' ? ` (${code})` : ''}: ${err.message}`;
  }
  return String(err);
}

function positional(args: readonly CmdArg[]): string[] {
  return args.filter((a) => a.vals.length === 0).map((a) => a.key);
}

function one(pos: readonly string[]): NodeId {
  const id = pos[0];
  if (id === undefined) throw new Error('missing node id');
  return nodeId(id);
}

function opt(args: readonly CmdArg[], key: string): string | undefined {
  return args.find((a) => a.key === key)?.vals[0];
}

function val(args: readonly CmdArg[], key: string): string {
  const v = opt(args, key);
  if (v === undefined) throw new Error(`missing ${key}=`);
  return v;
}

function list(args: readonly CmdArg[], key: string): string[] {
  return [...(args.find((a) => a.key === key)?.vals ?? [])];
}
