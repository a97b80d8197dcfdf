// Starting and stopping the two 3-node clusters on loopback: free ports, temporary data dirs on
// the real disk (fsync on: ringkv always fsyncs before acknowledging; etcd by default), every
// process remembered by pid and stopped by pid (SIGTERM, then SIGKILL after a grace period).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts } from '../test/support/ports.ts';
import type { ClientTls } from './grpc-client.ts';
import { EtcdTarget, RingkvTarget } from './targets.ts';

const REPO = resolve(import.meta.dirname, '..');

export interface Cluster {
  readonly name: string;
  readonly endpoints: string[];
  readonly pids: number[];
  readonly dir: string;
  /** Each process's data directory (in the order of pids), for the disk it takes. */
  readonly dataDirs: string[];
  /** Each ringkv node's admin address (host:port, in the order of pids; empty for etcd or a build without one). */
  readonly adminEndpoints: string[];
  /**
   * Kills process i (SIGKILL), starts it again with the same command line and data, and resolves
   * with the milliseconds from the new start until it says it is ready (ringkv: the admin port's
   * /readyz, so not for a build without one; etcd: /health). pids[i] becomes the new process's.
   * `extra` adds Node flags (e.g. --cpu-prof) and serve flags (later ones win, e.g. --log_level
   * info) to a ringkv node's start only.
   */
  readonly restart?: (i: number, extra?: RestartExtras) => Promise<number>;
  stop(): Promise<void>;
}

export interface RestartExtras {
  readonly nodeArgs?: readonly string[];
  readonly serveArgs?: readonly string[];
}

/** The started processes as a Cluster whose stop() ends them (by pid) and removes their directory. */
function clusterOf(
  name: string,
  endpoints: string[],
  procs: ChildProcess[],
  dir: string,
  dataDirs: string[],
  adminEndpoints: string[] = [],
): Cluster {
  return {
    name,
    endpoints,
    pids: procs.map((p) => p.pid as number),
    dir,
    dataDirs,
    adminEndpoints,
    stop: async () => {
      await stopProcesses(procs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** Stops every process started here, by pid, and removes their data dirs (on errors and Ctrl+C). */
export function killAllStarted(): void {
  for (const p of live) if (p.exitCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
  live.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `env`: variables added to (or replacing) this process's environment for the child. */
function startProcess(
  cmd: string,
  args: string[],
  logFile: string,
  cwd = REPO,
  env: Readonly<Record<string, string>> = {},
): ChildProcess {
  const fd = openSync(logFile, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, cwd });
  live.add(p);
  p.on('exit', () => live.delete(p));
  return p;
}

async function stopProcesses(procs: ChildProcess[], graceMs = 10_000): Promise<void> {
  const waits = procs.map(
    (p) =>
      new Promise<void>((res) => {
        if (p.exitCode !== null || p.signalCode !== null) return res();
        p.once('exit', () => res());
      }),
  );
  for (const p of procs) if (p.pid !== undefined && p.exitCode === null) p.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const p of procs) if (p.pid !== undefined && p.exitCode === null) p.kill('SIGKILL');
  }, graceMs);
  await Promise.all(waits);
  clearTimeout(timer);
}

/** How to start process i again, and the URL that answers 200 once it is ready. */
type RestartPlan = (
  i: number,
  extra: RestartExtras,
) => {
  cmd: string;
  args: string[];
  logFile: string;
  cwd?: string;
  /** Variables added to the environment, as at the first start. */
  env?: Readonly<Record<string, string>>;
  readyUrl: string;
  /** What the 200's body must also match (absent: anything). */
  readyBody?: RegExp;
};

/**
 * Cluster.restart: kills process i (SIGKILL), starts it again as `plan` says, and resolves with the
 * milliseconds from that start until `readyUrl` answers 200 with `readyBody` (polled every 50 ms,
 * 5 min at most).
 */
function restarter(
  cluster: Cluster,
  procs: ChildProcess[],
  plan: RestartPlan,
): (i: number, extra?: RestartExtras) => Promise<number> {
  return async (i, extra = {}) => {
    const old = procs[i];
    if (old === undefined) throw new Error(`no process ${i} to restart in the ${cluster.name} cluster`);
    const how = plan(i, extra);
    await killNow(old);
    const started = Date.now();
    const p = startProcess(how.cmd, how.args, how.logFile, how.cwd, how.env);
    procs[i] = p;
    cluster.pids[i] = p.pid as number;
    await waitFor(
      `${cluster.name} process ${i + 1} to be ready again`,
      300_000,
      async () => {
        const r = await fetch(how.readyUrl).catch(() => undefined);
        if (r?.status !== 200) return undefined;
        const body = await r.text();
        return how.readyBody === undefined || how.readyBody.test(body) ? true : undefined;
      },
      50,
    );
    return Date.now() - started;
  };
}

/** SIGKILL, resolved once the process has exited. */
function killNow(p: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (p.exitCode !== null || p.signalCode !== null) return res();
    p.once('exit', () => res());
    p.kill('SIGKILL');
  });
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  f: () => Promise<T | undefined>,
  pollMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(pollMs);
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
}

export interface RingkvStartOptions {
  /** Directory for --cpu-prof profiles of each node (written when it exits). */
  readonly cpuProfDir?: string;
  readonly shards?: number;
  /** A checkout of ringkv to run (default: this one), e.g. a git worktree of a baseline commit. */
  readonly repoDir?: string;
  /** Extra Node flags for the nodes (experiments, e.g. V8 heap sizes). */
  readonly nodeArgs?: readonly string[];
  /** Variables added to the nodes' environment (experiments, e.g. GLIBC_TUNABLES), restarts included. */
  readonly env?: Readonly<Record<string, string>>;
  /** `--leader_placement` of the new cluster (absent: the node's default, spread). */
  readonly leaderPlacement?: Placement;
  /** Extra `ringkv serve` flags for every node (e.g. `--client_api_thread=worker`). */
  readonly serveArgs?: readonly string[];
  /**
   * TLS on the client ports and mutual TLS on the raft ports, with the certificates `ringkv certs
   * create` made in this directory (devCerts); absent: plaintext.
   */
  readonly tlsDir?: string;
}

/**
 * A local CA and certificates for node1..node3 (valid for 127.0.0.1), made by `ringkv certs create`
 * in a new temporary directory (removed with the other temporary directories), and the client side.
 */
export function devCerts(): { dir: string; client: ClientTls; remove: () => void } {
  const dir = tempDir('ringkv-bench-certs-');
  execFileSync(
    process.execPath,
    ['src/cli/main.ts', 'certs', 'create', '--out', join(dir, 'certs'), '--nodes', 'node1,node2,node3'],
    { cwd: REPO, stdio: 'ignore' },
  );
  const certs = join(dir, 'certs');
  return {
    dir: certs,
    client: { ca: readFileSync(join(certs, 'ca.crt')) },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `serve`'s TLS flags for node `id` with devCerts' files. */
function tlsServeArgs(dir: string, id: string): string[] {
  const f = (name: string) => join(dir, name);
  return [
    `--cert_file=${f(`${id}.crt`)}`,
    `--key_file=${f(`${id}.key`)}`,
    `--trusted_ca_file=${f('ca.crt')}`,
    `--peer_cert_file=${f(`${id}.crt`)}`,
    `--peer_key_file=${f(`${id}.key`)}`,
    `--peer_trusted_ca_file=${f('ca.crt')}`,
  ];
}

/** ringkv's leader placements (src/node/metadata.ts), in the order the benchmark runs them. */
export const PLACEMENTS = ['pack', 'spread'] as const;
export type Placement = (typeof PLACEMENTS)[number];
export function isPlacement(p: string): p is Placement {
  return (PLACEMENTS as readonly string[]).includes(p);
}

/** The client side of a cluster started with `o.tlsDir`. */
function clientTls(o: RingkvStartOptions): ClientTls | undefined {
  return o.tlsDir === undefined ? undefined : { ca: readFileSync(join(o.tlsDir, 'ca.crt')) };
}

/** A 3-node ringkv cluster: node1 bootstraps, node2 and node3 join; ready when every shard has 3 voters and a leader. */
export async function startRingkv(o: RingkvStartOptions = {}): Promise<Cluster> {
  const dir = tempDir('ringkv-bench-');
  const ports = await freePorts(9);
  const procs: ChildProcess[] = [];
  const argv: string[][] = [];
  const endpoints: string[] = [];
  const nodeArgs = [
    ...(o.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`]),
    ...(o.nodeArgs ?? []),
  ];
  const hasAdminPort = readFileSync(join(o.repoDir ?? REPO, 'src/cli/commands/serve.ts'), 'utf8').includes(
    'admin_port',
  );
  for (let i = 0; i < 3; i++) {
    const id = `node${i + 1}`;
    const port = ports[2 * i] as number;
    mkdirSync(join(dir, id));
    const args = [
      ...nodeArgs,
      'src/cli/main.ts',
      'serve',
      '--node_id',
      id,
      '--raft_dir',
      join(dir, id, 'data'),
      '--port',
      String(port),
      '--raft_port',
      String(ports[2 * i + 1]),
      // On, as by default (its metrics are part of what is measured), on a free port; a baseline from
      // before the admin port has no such flag (nor port).
      ...(hasAdminPort ? ['--admin_port', String(ports[6 + i])] : []),
      '--host',
      '127.0.0.1',
      '--log_level',
      'warn',
      ...(i === 0 ? ['--bootstrap=true', `--shards=${o.shards ?? 8}`] : [`--join_addr=${endpoints[0]}`]),
      ...(i === 0 && o.leaderPlacement !== undefined ? [`--leader_placement=${o.leaderPlacement}`] : []),
      ...(o.serveArgs ?? []),
      ...(o.tlsDir === undefined ? [] : tlsServeArgs(o.tlsDir, id)),
    ];
    argv.push(args);
    procs.push(startProcess(process.execPath, args, join(dir, id, 'log.jsonl'), o.repoDir ?? REPO, o.env));
    endpoints.push(`127.0.0.1:${port}`);
    const t = new RingkvTarget([endpoints[i] as string], 'ringkv', clientTls(o));
    try {
      await waitFor(`ringkv ${id} to serve`, 60_000, async () => {
        const st = await t.status();
        return st.members.some((m) => m.nodeId === id) ? true : undefined;
      });
    } finally {
      t.close();
    }
  }
  const dataDirs = [1, 2, 3].map((i) => join(dir, `node${i}`, 'data'));
  const admin = hasAdminPort ? [0, 1, 2].map((i) => `127.0.0.1:${ports[6 + i]}`) : [];
  const base = clusterOf('ringkv', endpoints, procs, dir, dataDirs, admin);
  const restart = restarter(base, procs, (i, extra) => {
    const args = argv[i] as string[];
    return {
      cmd: process.execPath,
      args: [...(extra.nodeArgs ?? []), ...args, ...(extra.serveArgs ?? [])],
      logFile: join(dir, `node${i + 1}`, 'log.jsonl'),
      cwd: o.repoDir ?? REPO,
      ...(o.env === undefined ? {} : { env: o.env }),
      readyUrl: `http://${admin[i]}/readyz`,
    };
  });
  const cluster: Cluster = { ...base, ...(hasAdminPort ? { restart } : {}) };
  await waitRingkvReady(endpoints, o.leaderPlacement ?? 'spread', clientTls(o)).catch(async (e: unknown) => {
    await cluster.stop();
    throw e;
  });
  return cluster;
}

/**
 * Steady state: every shard (and the metadata group) has 3 voters and a leader, and the balancer
 * has placed the data shards' leaderships: within one of each other (spread) or all on one member
 * (pack).
 */
async function waitRingkvReady(endpoints: string[], placement: Placement, tls?: ClientTls): Promise<void> {
  const t = new RingkvTarget(endpoints, 'ringkv', tls);
  try {
    await waitFor(
      `ringkv shards to have 3 voters, a leader, and ${placement} leaderships`,
      90_000,
      async () => {
        const st = await t.status();
        const ok = st.shards.every(
          (s) => s.leader !== '' && s.voters.length === 3 && s.learners.length === 0,
        );
        const led = new Map(st.members.map((m) => [m.nodeId, 0]));
        for (const s of st.shards) if (s.shardId !== 0) led.set(s.leader, (led.get(s.leader) ?? 0) + 1);
        const counts = [...led.values()];
        const shards = st.shards.length - 1;
        const placed =
          placement === 'pack' ? counts.includes(shards) : Math.max(...counts) - Math.min(...counts) <= 1;
        return ok && placed && st.members.length === 3 ? true : undefined;
      },
    );
  } finally {
    t.close();
  }
}

/** Installs etcd from Debian's packages when it is missing (says so). */
export function ensureEtcd(log: (s: string) => void): void {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    return;
  } catch {
    log(
      'etcd not found: installing it with `apt-get update && apt-get install -y etcd-server etcd-client` …',
    );
  }
  execFileSync('sh', ['-c', 'apt-get update && apt-get install -y etcd-server etcd-client'], {
    stdio: 'inherit',
  });
}

/** A 3-member etcd cluster (default durability: fsync of its WAL on every commit). */
export async function startEtcd(): Promise<Cluster> {
  const dir = tempDir('etcd-bench-');
  const ports = await freePorts(6);
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initial = [0, 1, 2].map((i) => `m${i + 1}=${peerUrl(i)}`).join(',');
  const procs: ChildProcess[] = [];
  const argv: string[][] = [];
  const endpoints: string[] = [];
  for (let i = 0; i < 3; i++) {
    const client = `http://127.0.0.1:${ports[2 * i]}`;
    const args = [
      `--name=m${i + 1}`,
      `--data-dir=${join(dir, `m${i + 1}`)}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peerUrl(i)}`,
      `--initial-advertise-peer-urls=${peerUrl(i)}`,
      `--initial-cluster=${initial}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=bench',
      '--logger=zap',
      '--log-level=warn',
      // etcd keeps every revision (no compaction by default): a full run writes more than its
      // default 2 GiB backend quota, and it then refuses writes ("database space exceeded"). 8 GiB
      // is the largest it recommends; the quota is a size check only, not on the write path.
      '--quota-backend-bytes=8589934592',
    ];
    // GOMAXPROCS is left at its default (both cores), as a user would run it.
    argv.push(args);
    procs.push(startProcess('etcd', args, join(dir, `m${i + 1}.log`)));
    endpoints.push(`127.0.0.1:${ports[2 * i]}`);
  }
  const dataDirs = [1, 2, 3].map((i) => join(dir, `m${i}`));
  const base = clusterOf('etcd', endpoints, procs, dir, dataDirs);
  // A member with data resumes it (--initial-cluster-state is then ignored); /health is 200 once it
  // knows a leader and has no alarm.
  const cluster: Cluster = {
    ...base,
    restart: restarter(base, procs, (i) => ({
      cmd: 'etcd',
      args: argv[i] as string[],
      logFile: join(dir, `m${i + 1}.log`),
      readyUrl: `http://${endpoints[i]}/health`,
      readyBody: /"health":\s*"true"/,
    })),
  };
  const t = new EtcdTarget(endpoints);
  try {
    await waitFor('etcd to elect a leader', 60_000, async () => {
      await t.refresh();
      return true;
    });
  } catch (e) {
    await cluster.stop();
    throw e;
  } finally {
    t.close();
  }
  return cluster;
}
