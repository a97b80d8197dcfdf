// The cluster of a chaos run: `ringkv serve` processes placed by the ChaosNetwork, started as the
// README's quickstart starts them (node1 with --bootstrap=true, the others with --join_addr), and
// observed only through the client library (Status of one node at a time), as an operator would.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { sleep } from '../../client/backoff.ts';
import { RingkvClient, type StatusResponse } from '../../client/index.ts';
import type { ChaosNetwork, NodePlace } from './network.ts';
import { ServeProcess, within } from './processes.ts';
import { unsettledReason } from './settled.ts';

/** The CLI's entry: main.ts in the repository, main.js in the installed package (dist/). */
const MAIN_TS = join(import.meta.dirname, '..', import.meta.url.endsWith('.ts') ? 'main.ts' : 'main.js');
const HELP_TIMEOUT_MS = 30_000;

/** Whether this build's `serve` takes `flag` (its --help lists it). */
export function serveAccepts(flag: string): boolean {
  const help = execFileSync(process.execPath, [MAIN_TS, 'serve', '--help'], {
    encoding: 'utf8',
    timeout: HELP_TIMEOUT_MS,
  });
  return help.includes(`${flag} `) || help.includes(`${flag}=`) || help.includes(`${flag}\n`);
}
const POLL_MS = 250;
const STATUS_TIMEOUT_MS = 1000;

export interface ChaosNode {
  readonly name: string;
  readonly index: number;
  readonly place: NodePlace;
  readonly proc: ServeProcess;
  readonly endpoint: string;
  /** False once it has left the cluster (its process is stopped then). */
  member: boolean;
}

export interface ClusterDirs {
  readonly logDir: string;
  readonly dataDir: string;
}

export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  private readonly network: ChaosNetwork;
  private readonly dirs: ClusterDirs;
  /** Added to every node's command line (a planted bug's flag). */
  private readonly extraServeArgs: readonly string[];

  constructor(network: ChaosNetwork, dirs: ClusterDirs, extraServeArgs: readonly string[] = []) {
    this.network = network;
    this.dirs = dirs;
    this.extraServeArgs = extraServeArgs;
  }

  /** Current members, in id order (node2 before node10). */
  get members(): ChaosNode[] {
    return this.nodes.filter((n) => n.member).sort((a, b) => a.index - b.index);
  }

  node(name: string): ChaosNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  /** Plans node i (1-based) on the network; `joinVia` undefined: it bootstraps the cluster. */
  private async plan(index: number, joinVia: ChaosNode | undefined): Promise<ChaosNode> {
    const name = `node${index}`;
    const place = await this.network.addNode(name, index);
    const args = [
      'serve',
      '--node_id',
      name,
      '--host',
      place.host,
      '--port',
      String(place.port),
      '--raft_port',
      String(place.raftPort),
      '--raft_dir',
      join(this.dirs.dataDir, name),
      joinVia === undefined ? '--bootstrap=true' : `--join_addr=${joinVia.endpoint}`,
      // In a namespace each node has its own address (the default, --port + 1000, is free); on loopback none.
      ...(place.prefix.length > 0 ? [] : ['--admin_port', '0']),
      ...this.extraServeArgs,
    ];
    const argv = [...place.prefix, process.execPath, MAIN_TS, ...args];
    const proc = new ServeProcess(name, argv, join(this.dirs.logDir, `${name}.log`));
    const node: ChaosNode = {
      name,
      index,
      place,
      proc,
      endpoint: `${place.host}:${place.port}`,
      member: true,
    };
    this.nodes.push(node);
    return node;
  }

  /** Starts `n` nodes: node1 bootstraps, the others join it; resolves once the cluster has settled over them. */
  async start(n: number, timeoutMs: number): Promise<void> {
    const first = await this.plan(1, undefined);
    first.proc.start();
    await this.waitAnswers(first, timeoutMs);
    const rest: ChaosNode[] = [];
    for (let i = 2; i <= n; i++) rest.push(await this.plan(i, first));
    for (const node of rest) node.proc.start();
    await this.waitFormed(timeoutMs);
  }

  /**
   * With leaders spread (the default placement), waits until every member leads its share of the
   * data shards (within one): right after forming, node1 leads them all and the balancer moves them
   * every few seconds. Returns whether they got there within `timeoutMs`; 'pack' returns at once.
   */
  async waitLeadersSpread(timeoutMs: number): Promise<boolean> {
    try {
      await waitFor('the leaderships to spread over the members', timeoutMs, async () => {
        const s = await this.anyStatus();
        if (s === undefined) return false;
        if (s.leaderPlacement !== 'spread') return true;
        const led = new Map<string, number>(this.members.map((n) => [n.name, 0]));
        for (const g of s.shards)
          if (g.shardId !== 0 && led.has(g.leader)) led.set(g.leader, led.get(g.leader)! + 1);
        const counts = [...led.values()];
        return Math.max(...counts) - Math.min(...counts) <= 1;
      });
      return true;
    } catch {
      return false;
    }
  }

  /** The Status of one node, or undefined if it does not answer within `timeoutMs`. */
  async statusOf(node: ChaosNode, timeoutMs = STATUS_TIMEOUT_MS): Promise<StatusResponse | undefined> {
    const c = new RingkvClient({ endpoints: [node.endpoint], routeToLeaders: false });
    try {
      return await within(c.status({ endpoint: node.endpoint, timeoutMs }), timeoutMs + 500);
    } catch {
      return undefined;
    } finally {
      void c.close({ timeoutMs: 0 });
    }
  }

  /** The first answer among the running, unpaused members. */
  async anyStatus(): Promise<StatusResponse | undefined> {
    for (const n of this.members) {
      if (!n.proc.running || n.proc.paused) continue;
      const s = await this.statusOf(n);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  async waitAnswers(node: ChaosNode, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    await waitFor(`${node.name} to answer Status`, timeoutMs, async () => {
      if (!node.proc.running)
        throw new GiveUp(`${node.name} exited (${describeExit(node)}); see ${node.proc.logPath}`);
      return (await this.statusOf(node)) !== undefined;
    });
    return Date.now() - t0;
  }

  /**
   * Every member runs and answers, and the cluster has settled over them (settled.ts: the shard
   * table places every shard on min(R, N) members with no move in flight, each member hosts what
   * it places there, every group has a leader and the table's voters).
   */
  async waitFormed(timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    await waitFor(`the cluster to settle over its ${this.members.length} members`, timeoutMs, async () => {
      const why = await this.unsettled();
      // Thrown, so that a timeout reports the last reason.
      if (why !== undefined) throw new Error(why);
      return true;
    });
    return Date.now() - t0;
  }

  /** Why the cluster has not settled yet (settled.ts), or undefined once it has. */
  async unsettled(): Promise<string | undefined> {
    const members = this.members;
    for (const n of members) {
      if (!n.proc.running) throw new GiveUp(`${n.name} exited (${describeExit(n)}); see ${n.proc.logPath}`);
    }
    const statuses = new Map<string, StatusResponse>();
    for (const n of members) {
      const s = await this.statusOf(n);
      if (s !== undefined) statuses.set(n.name, s);
    }
    return unsettledReason(
      members.map((n) => n.name),
      statuses,
    );
  }

  /** Starts a new node that joins through a running member; resolves once the cluster has settled over it. */
  async joinNew(timeoutMs: number): Promise<ChaosNode> {
    const via = this.members.find((n) => n.proc.running && !n.proc.paused);
    if (via === undefined) throw new Error('no running member to join through');
    const index = Math.max(...this.nodes.map((n) => n.index)) + 1;
    const node = await this.plan(index, via);
    node.proc.start();
    await this.waitFormed(timeoutMs);
    return node;
  }

  /** Removes `node` from the cluster (the client library's Leave), then stops its process. */
  async leave(node: ChaosNode, timeoutMs: number): Promise<void> {
    const others = this.members.filter((n) => n !== node).map((n) => n.endpoint);
    const c = new RingkvClient({ endpoints: others });
    try {
      await c.leave(node.name, { timeoutMs });
    } finally {
      void c.close({ timeoutMs: 0 });
    }
    node.member = false;
    await node.proc.stop();
  }

  /** The leader of group `shardId` as the first answering member sees it (undefined: none known). */
  async leaderOf(shardId: number): Promise<ChaosNode | undefined> {
    const s = await this.anyStatus();
    const leader = s?.shards.find((g) => g.shardId === shardId)?.leader;
    return this.members.find((n) => n.name === leader);
  }

  /** Data shards, from any member's Status (0 when none answers). */
  async shardCount(): Promise<number> {
    const s = await this.anyStatus();
    return s?.shards.filter((g) => g.shardId !== 0).length ?? 0;
  }

  /** Every member running and not paused: resumes the paused, restarts the stopped. Returns what it did. */
  restoreProcesses(): string[] {
    const done: string[] = [];
    for (const n of this.members) {
      if (n.proc.running && n.proc.paused) {
        n.proc.resume();
        done.push(`resumed ${n.name}`);
      } else if (!n.proc.running) {
        n.proc.start();
        done.push(`restarted ${n.name} (${describeExit(n)} before)`);
      }
    }
    return done;
  }

  /** Stops every process ever started (members or not), SIGKILL after the grace period. */
  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.proc.stop()));
  }
}

function describeExit(n: ChaosNode): string {
  const e = n.proc.lastExit;
  if (e === undefined) return 'running';
  return e.signal !== null ? `signal ${e.signal}` : `exit code ${e.code}`;
}

/** Thrown by a waitFor check to stop waiting at once. */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/** Polls `check` until it returns true; throws at the bound (or at once on GiveUp). */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      if (e instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${e.message}`);
      lastError = e;
    }
    await sleep(POLL_MS);
  }
  const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
}
