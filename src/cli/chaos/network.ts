// Where the nodes of a chaos run live on the network, and how it is cut.
//
// NamespaceNetwork (root only): every node runs in its own network namespace, linked by a veth pair
// to one "router" namespace that forwards between them; the chaos process (the workload's clients)
// reaches the router through one more veth pair from the namespace it runs in. Addresses come from
// 198.18.0.0/15, the range reserved for benchmarking (RFC 2544): 198.18.X.i for node i, .253 for
// the router, .254 for the chaos process, with X the first /24 not yet routed here. A partition is a
// policy rule in the router, `ip rule add from A to B blackhole`: packets from A to B are dropped
// silently, as a broken network drops them (TCP retransmits into the void; nothing is refused),
// one direction per rule, so one-way partitions are real. The clients' traffic never matches a rule.
// Nothing leaves the machine: the router has no other link. Everything is removed by close(), and
// by an exit hook if the process ends without it; namespaces left by a chaos process that was
// SIGKILLed (names carry its pid) are removed by the next run.
//
// LoopbackNetwork (anyone): nodes on 127.0.0.1 with free ports; it cannot cut anything.
import { execFile, execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';

export interface NodePlace {
  /** The address others use to reach the node (`serve --host`). */
  readonly host: string;
  readonly port: number;
  readonly raftPort: number;
  /** Prepended to the node's command line (runs it inside its namespace). */
  readonly prefix: readonly string[];
}

export interface ChaosNetwork {
  readonly description: string;
  readonly canPartition: boolean;
  addNode(name: string, index: number): Promise<NodePlace>;
  /** Drops every packet from `from` to `to` until heal(). */
  cut(from: string, to: string): Promise<void>;
  /** Removes every cut. */
  heal(): Promise<void>;
  /** The cuts in place, as "from→to". */
  readonly cuts: readonly string[];
  /** Removes everything this network created (idempotent). */
  close(): Promise<void>;
}

const CLIENT_PORT = 50051;
const RAFT_PORT = 12001;
const IP_TIMEOUT_MS = 10_000;
const NAME_PREFIX = 'ringkv-chaos-';
/** Priority of the partition rules in the router (below the main table's 32766). */
const RULE_PRIORITY = '100';

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function ipSync(args: readonly string[]): void {
  try {
    execFileSync('ip', args, { timeout: IP_TIMEOUT_MS, stdio: 'ignore' });
  } catch {
    // best effort: called while exiting
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class NamespaceNetwork implements ChaosNetwork {
  readonly canPartition = true;
  private readonly router: string;
  private readonly uplink: string;
  private readonly nodeNamespaces = new Map<string, { ns: string; addr: string }>();
  private readonly rules = new Map<string, readonly string[]>();
  private subnet = '';
  private closed = false;
  private readonly onExit = (): void => this.closeSync();
  /** The chaos process's pid: in every name, so a later run can tell which names are stale. */
  private readonly runId: number;

  private constructor(runId: number) {
    this.runId = runId;
    this.router = `${NAME_PREFIX}${runId}-router`;
    this.uplink = `rkc${runId}`;
  }

  get description(): string {
    return (
      `network namespaces ${NAME_PREFIX}${this.runId}-*, ${this.subnet}.0/24 via ${this.uplink}, ` +
      'partitions as blackhole rules in the router namespace'
    );
  }

  get cuts(): readonly string[] {
    return [...this.rules.keys()];
  }

  /** Whether namespaces can be made here (root, `ip` present, a probe namespace works). */
  static async available(): Promise<string | undefined> {
    if (process.platform !== 'linux') return 'network namespaces exist only on Linux';
    if (process.getuid?.() !== 0)
      return 'partitions need root (network namespaces); running as a normal user';
    const probe = `${NAME_PREFIX}${process.pid}-probe`;
    try {
      await ip(['netns', 'add', probe]);
      await ip(['netns', 'del', probe]);
      return undefined;
    } catch (e) {
      return `cannot create network namespaces here (${(e as Error).message})`;
    }
  }

  /** Removes what a chaos process that no longer exists left behind; returns what it removed. */
  static async removeStale(): Promise<string[]> {
    const removed: string[] = [];
    const list = await ip(['netns', 'list']);
    for (const line of list.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      const m = new RegExp(`^${NAME_PREFIX}(\\d+)-`).exec(name);
      if (m === null || alive(Number(m[1]))) continue;
      // Processes still in it were started by that run (its nodes): they go with it.
      const pids = await ip(['netns', 'pids', name]).catch(() => '');
      for (const pid of pids.split('\n').filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
      await ip(['link', 'del', `rkc${m[1]}`]).catch(() => undefined);
      await ip(['netns', 'del', name]).catch(() => undefined);
      removed.push(name);
    }
    return removed;
  }

  static async create(): Promise<NamespaceNetwork> {
    const net = new NamespaceNetwork(process.pid);
    process.once('exit', net.onExit);
    try {
      await net.build();
    } catch (e) {
      await net.close();
      throw e;
    }
    return net;
  }

  private async build(): Promise<void> {
    await ip(['netns', 'add', this.router]);
    const r = ['-n', this.router];
    await ip([...r, 'link', 'set', 'lo', 'up']);
    await ip(['netns', 'exec', this.router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await ip(['link', 'add', this.uplink, 'type', 'veth', 'peer', 'name', 'vc', 'netns', this.router]);
    this.subnet = await this.freeSubnet();
    const s = this.subnet;
    await ip([...r, 'addr', 'add', `${s}.253/32`, 'dev', 'vc']);
    await ip([...r, 'link', 'set', 'vc', 'up']);
    await ip([...r, 'route', 'add', `${s}.254/32`, 'dev', 'vc']);
    await ip(['addr', 'add', `${s}.254/32`, 'dev', this.uplink]);
    await ip(['link', 'set', this.uplink, 'up']);
    await ip(['route', 'add', `${s}.253/32`, 'dev', this.uplink]);
    await ip(['route', 'add', `${s}.0/24`, 'via', `${s}.253`, 'dev', this.uplink]);
  }

  /** 198.18.X with no address or route of this namespace in 198.18.X.0/24. */
  private async freeSubnet(): Promise<string> {
    const used = `${await ip(['-4', 'addr'])}\n${await ip(['-4', 'route'])}`;
    for (let x = 0; x < 256; x++) {
      const s = `198.18.${x}`;
      if (!used.includes(`${s}.`)) return s;
    }
    throw new Error('every /24 of 198.18.0.0/16 is in use here');
  }

  async addNode(name: string, index: number): Promise<NodePlace> {
    if (!(Number.isInteger(index) && index >= 1 && index <= 250))
      throw new RangeError(`node index must be 1..250, got ${index}`);
    if (this.nodeNamespaces.has(name)) throw new Error(`${name} already has a namespace`);
    const ns = `${NAME_PREFIX}${this.runId}-${name}`;
    const addr = `${this.subnet}.${index}`;
    await ip(['netns', 'add', ns]);
    this.nodeNamespaces.set(name, { ns, addr });
    const n = ['-n', ns];
    const r = ['-n', this.router];
    const v = `v${index}`;
    await ip([...n, 'link', 'set', 'lo', 'up']);
    await ip(['link', 'add', v, 'netns', this.router, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip([...r, 'addr', 'add', `${this.subnet}.253/32`, 'dev', v]);
    await ip([...r, 'link', 'set', v, 'up']);
    await ip([...r, 'route', 'add', `${addr}/32`, 'dev', v]);
    await ip([...n, 'addr', 'add', `${addr}/32`, 'dev', 'eth0']);
    await ip([...n, 'link', 'set', 'eth0', 'up']);
    await ip([...n, 'route', 'add', `${this.subnet}.253/32`, 'dev', 'eth0']);
    await ip([...n, 'route', 'add', `${this.subnet}.0/24`, 'via', `${this.subnet}.253`, 'dev', 'eth0']);
    return { host: addr, port: CLIENT_PORT, raftPort: RAFT_PORT, prefix: ['ip', 'netns', 'exec', ns] };
  }

  async cut(from: string, to: string): Promise<void> {
    const key = `${from}→${to}`;
    if (this.rules.has(key)) return;
    const a = this.addrOf(from);
    const b = this.addrOf(to);
    const rule = ['from', `${a}/32`, 'to', `${b}/32`, 'blackhole', 'priority', RULE_PRIORITY];
    await ip(['-n', this.router, 'rule', 'add', ...rule]);
    this.rules.set(key, rule);
  }

  async heal(): Promise<void> {
    for (const [key, rule] of [...this.rules]) {
      await ip(['-n', this.router, 'rule', 'del', ...rule]);
      this.rules.delete(key);
    }
  }

  private addrOf(name: string): string {
    const n = this.nodeNamespaces.get(name);
    if (n === undefined) throw new Error(`${name} has no namespace`);
    return n.addr;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.onExit);
    // The uplink first: deleting it takes its routes in this namespace with it at once (namespaces
    // are torn down asynchronously).
    await ip(['link', 'del', this.uplink]).catch(() => undefined);
    for (const { ns } of this.nodeNamespaces.values()) await ip(['netns', 'del', ns]).catch(() => undefined);
    await ip(['netns', 'del', this.router]).catch(() => undefined);
    this.rules.clear();
  }

  private closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    ipSync(['link', 'del', this.uplink]);
    for (const { ns } of this.nodeNamespaces.values()) ipSync(['netns', 'del', ns]);
    ipSync(['netns', 'del', this.router]);
  }
}

export class LoopbackNetwork implements ChaosNetwork {
  readonly canPartition = false;
  readonly description = 'loopback (127.0.0.1, free ports): no partitions';
  readonly cuts: readonly string[] = [];

  async addNode(): Promise<NodePlace> {
    const [port, raftPort] = await freePorts(2);
    return { host: '127.0.0.1', port: port!, raftPort: raftPort!, prefix: [] };
  }

  async cut(from: string, to: string): Promise<void> {
    throw new Error(`cannot cut ${from}→${to}: this network has no partitions`);
  }

  async heal(): Promise<void> {}

  async close(): Promise<void> {}
}

function listenOnAnyPort(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      if (a !== null && typeof a === 'object') resolve(a.port);
      else reject(new Error('the loopback listener has no port'));
    });
  });
}

/** `n` distinct ports free a moment ago (all bound at once, then closed). */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(servers.map(listenOnAnyPort));
  } finally {
    await Promise.all(
      servers.map((s) => (s.listening ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve())),
    );
  }
}
