// A short, scripted tour of a simulated 3-node cluster for `npm run demo` / `ringkv demo`: elect a
// leader, commit writes, crash and restart a follower, crash the leader, serve linearizable reads,
// and show that every replica ends with the same state and the history is linearizable. The same
// safety checker as the simulator watches every step.
import type { KvInput, KvOperation, KvOutput } from '../lincheck/index.ts';
import { checkOperations, kvModel } from '../lincheck/index.ts';
import { SafetyChecker } from './checker.ts';
import { describeInput } from './clients.ts';
import { Cluster } from './cluster.ts';
import { TICK_MS } from './event-queue.ts';
import { DEFAULT_FAULT_WEIGHTS } from './faults.ts';
import { hashBytes } from './hash.ts';
import { encodeCommand } from './kv.ts';
import { CALM_NETWORK } from './network.ts';
import type { SimNode } from './node.ts';
import { Prng } from './prng.ts';
import type { SimSettings } from './settings.ts';
import { Trace } from './trace.ts';

/** Every step of the script must finish within this much virtual time. */
const STEP_TIMEOUT_MS = 10_000;
const EVENTS_PER_STEP_MAX = 1_000_000;

export interface DemoResult {
  readonly lines: readonly string[];
  readonly ok: boolean;
}

function demoSettings(): SimSettings {
  return {
    nodes: 3,
    faultSteps: 0,
    bug: undefined,
    node: {
      electionTick: 10,
      heartbeatTick: 2,
      snapshotEveryEntries: 8,
      compactionLagEntries: 2,
      maxSizePerMsgBytes: 1 << 20,
      maxInflightMsgs: 256,
      preVote: true,
      checkQuorum: true,
      snapshotChunkBytesMax: 1 << 20,
      maxInflightBytes: 1 << 24,
      maxUncommittedEntriesBytes: 1 << 26,
      readOnlyOption: 'safe',
      coreBugs: undefined,
      simBugs: new Set(),
    },
    clients: {
      clients: 1,
      keys: 1,
      opTimeoutMs: 1_000,
      readAttemptMs: 400,
      thinkMinMs: 1,
      thinkMaxMs: 2,
      opsMax: 1,
    },
    faults: {
      faultEveryMs: 1_000,
      weights: DEFAULT_FAULT_WEIGHTS,
      downMinMs: 10,
      downMaxMs: 20,
      transfers: false,
      pauses: false,
      partitionKinds: ['halves'],
      leaderCrashRate: 0,
      newLeaderCrashRate: 0,
      newLeaderCrashMaxMs: 0,
    },
    membershipEveryMs: 0,
    clockSkew: false,
    tornWrites: true,
    lazySyncEveryMs: 1_000,
    livenessBoundMs: 10_000,
    growFromOne: false,
  };
}

class DemoScript {
  readonly cluster: Cluster;
  readonly history: KvOperation[] = [];
  readonly lines: string[] = [];
  private seq = 0;
  events = 0;

  constructor(seed: number) {
    this.cluster = new Cluster(demoSettings(), new Prng(seed), new SafetyChecker(), new Trace(false));
    this.cluster.network.setConditions({ ...CALM_NETWORK, delayMaxMs: 15 });
  }

  say(line: string): void {
    this.lines.push(`[${(this.cluster.nowMs() / 1000).toFixed(2).padStart(5)} s] ${line}`);
  }

  until(what: string, cond: () => boolean): void {
    const deadline = this.cluster.nowMs() + STEP_TIMEOUT_MS;
    const ok = this.cluster.runUntil(
      cond,
      deadline,
      (ev) => {
        this.events++;
        this.cluster.handle(ev);
      },
      EVENTS_PER_STEP_MAX,
    );
    if (!ok) throw new Error(`demo: timed out waiting for ${what}`);
  }

  leader(): SimNode {
    const l = this.cluster.leader();
    if (l === undefined) throw new Error('demo: no leader');
    return l;
  }

  /** Sends one operation to `node` (a write through Raft, a get through ReadIndex) and waits for it. */
  op(node: SimNode, input: KvInput): KvOutput {
    const callTime = this.cluster.nowMs();
    const seq = ++this.seq;
    let output: KvOutput | undefined;
    const reply = (r: { ok: boolean; output?: KvOutput }) => {
      if (r.ok) output = r.output;
    };
    if (input.kind === 'get') node.read(`demo:${seq}`, input.key, reply);
    else node.proposeWrite(`1:${seq}`, encodeCommand({ clientId: 1, seq, input }), reply);
    this.until(describeInput(input), () => output !== undefined);
    const done = output as KvOutput;
    this.history.push({ clientId: 1, input, output: done, callTime, returnTime: this.cluster.nowMs() });
    return done;
  }

  settle(): void {
    this.until('replicas to catch up', () => {
      const l = this.cluster.leader();
      return l !== undefined && this.cluster.nodes.every((n) => n.up && n.applied === l.commit);
    });
  }
}

export function runDemo(seed: number): DemoResult {
  const d = new DemoScript(seed);
  try {
    script(d);
    return { lines: d.lines, ok: true };
  } catch (err) {
    d.say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    return { lines: d.lines, ok: false };
  }
}

function script(d: DemoScript): void {
  const c = d.cluster;
  c.bootstrap();
  d.say(`started 3 nodes (${c.nodes.map((n) => n.id).join(', ')}); one tick = ${TICK_MS} ms of virtual time`);
  d.until('a leader', () => c.leader() !== undefined);
  const first = d.leader();
  d.say(`${first.id} was elected leader of term ${first.term}`);
  d.op(first, { kind: 'put', key: 'user:1', value: 'alice' });
  d.op(first, { kind: 'put', key: 'user:2', value: 'bob' });
  d.op(first, { kind: 'put', key: 'counter', value: '1' });
  const cas = d.op(first, { kind: 'cas', key: 'counter', expected: '1', value: '2' });
  d.say(
    `4 writes committed (the compare-and-swap ${cas.kind === 'cas' && cas.succeeded ? 'succeeded' : 'failed'})`,
  );
  const follower = c.nodes.find((n) => n !== first) as SimNode;
  const lost = follower.crash(true);
  d.say(`${follower.id} crashed (power loss: ${lost})`);
  for (let i = 0; i < 12; i++) d.op(d.leader(), { kind: 'put', key: `item:${i % 4}`, value: `v${i}` });
  d.say(`12 more writes committed by the remaining majority while ${follower.id} was down`);
  c.restart(follower);
  d.settle();
  d.say(
    `${follower.id} restarted from its disk and caught up to index ${follower.applied} (by snapshot and log)`,
  );
  const old = d.leader();
  old.crash(true);
  d.until('a new leader', () => c.leader() !== undefined);
  const next = d.leader();
  d.say(`leader ${old.id} crashed; ${next.id} was elected leader of term ${next.term}`);
  d.op(next, { kind: 'delete', key: 'user:2' });
  c.restart(old);
  d.settle();
  d.say(`${old.id} restarted and rejoined as a follower`);
  const reader = c.nodes.find((n) => n !== next && n.up) as SimNode;
  const a = d.op(next, { kind: 'get', key: 'user:1' });
  const b = d.op(reader, { kind: 'get', key: 'user:2' });
  d.say(
    `linearizable reads (ReadIndex): user:1 = ${a.kind === 'get' && a.found ? a.value : 'absent'} at ${next.id}, ` +
      `user:2 = ${b.kind === 'get' && b.found ? b.value : 'absent'} at follower ${reader.id}`,
  );
  finalChecks(d);
}

function finalChecks(d: DemoScript): void {
  d.settle();
  const c = d.cluster;
  const states = new Set(c.nodes.map((n) => hashBytes(n.kv.serialize())));
  const at = c.nodes.map((n) => n.applied);
  if (states.size !== 1) throw new Error('replicas hold different state');
  d.say(
    `all 3 nodes applied ${at[0]} entries and hold identical state (hash ${[...states][0]?.slice(0, 12)})`,
  );
  const verdict = checkOperations(kvModel, d.history).verdict;
  if (verdict !== 'linearizable') throw new Error(`history is ${verdict}`);
  d.say(
    `the history of ${d.history.length} operations is linearizable; safety invariants held at all ${d.events} steps`,
  );
}
