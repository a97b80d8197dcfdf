// `ringkv serve`: runs one ringkv node until SIGINT/SIGTERM. The flag names are the original design's
// (`--raft_port`, `--node_id`, …); kebab-case aliases (`--raft-port`) are accepted too. Each flag
// may also come from a RINGKV_ variable or a config file (serve-config.ts: sources and precedence).
// This file only declares the flags at load time; the node is imported when the command runs, so
// that `ringkv --help` stays fast.
//
// Exit status: 0 after a clean shutdown; 1 when the node cannot start or has to stop (corrupt
// write-ahead log, disk failure, a port in use); 2 for bad settings (from any source, or an
// unreadable or unknown-keyed config file) or settings that do not fit the data directory (neither or both of --bootstrap and --join_addr on an empty one).

import { type Command, Option } from 'commander';
import { DEFAULT_LEADER_PLACEMENT, isLeaderPlacement, LEADER_PLACEMENTS } from '../../node/metadata.ts';
import { DEAD_NODE_TIMEOUT_MS_MAX, DEAD_NODE_TIMEOUT_MS_MIN } from '../../node/options.ts';
import {
  CLIENT_API_THREADS,
  DEFAULT_CLIENT_API_THREAD,
  isClientApiThread,
} from '../../server/client-api-thread.ts';
import type { NodeProcessOptions } from '../../server/process.ts';
import type { TlsFileOptions } from '../../server/tls-files.ts';
import { parseDurationMs } from '../duration.ts';
import {
  DEFAULT_HEAP_GROWING_MIN_MB,
  DEFAULT_HEAP_GROWING_PERCENT,
  HEAP_GROWING_MIN_MB_MAX,
  HEAP_GROWING_PERCENT_MAX,
  type HeapGrowing,
  setHeapGrowing,
} from '../heap-growing.ts';
import {
  describeProblem,
  envName,
  mergeSettings,
  nearestFlag,
  readConfigFile,
  type Setting,
  type Settings,
  settingsFromEnv,
  settingsFromFile,
} from './serve-config.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Flags with their defaults: [underscore name, value placeholder, description, default]. */
const FLAGS: readonly (readonly [string, string, string, string | undefined])[] = [
  ['port', '<port>', 'client gRPC port (KVService, ClusterService)', '50051'],
  ['raft_port', '<port>', 'peer (Raft) port for node-to-node traffic', '12001'],
  [
    'node_id',
    '<id>',
    "this node's id, unique in the cluster (required: as a flag, RINGKV_NODE_ID or in the config file)",
    undefined,
  ],
  [
    'raft_dir',
    '<dir>',
    'data directory: write-ahead log, snapshots, node identity (required, from any source)',
    undefined,
  ],
  [
    'join_addr',
    '<host:port>',
    'client address of any member of the cluster to join (first start only)',
    undefined,
  ],
  [
    'join_timeout',
    '<seconds>',
    'with --join_addr: give up (exit 1) when the cluster has not admitted this node by then',
    '300',
  ],
  ['host', '<host>', 'address other nodes and clients use to reach this node', 'localhost'],
  ['listen', '<addr>', 'interface to bind both ports on (default: the one --host names)', undefined],
  [
    'admin_port',
    '<port>',
    'admin HTTP port: Prometheus /metrics, /livez, /readyz (HTTPS when the client port serves TLS); ' +
      '0 turns it off (default: --port + 1000)',
    undefined,
  ],
  [
    'admin_listen',
    '<addr>',
    "interface to bind the admin port on (default: the client port's, --listen)",
    undefined,
  ],
  ['shards', '<n>', 'number of data shards of a new cluster (used only with --bootstrap)', '8'],
  [
    'replication_factor',
    '<n>',
    'voters per data shard of a new cluster, R (used only with --bootstrap): with more than R members ' +
      'each shard lives on R of them, placed by the ring',
    '3',
  ],
  [
    'zone',
    '<name>',
    "this node's failure domain, recorded when it bootstraps or joins: with at least R zones a shard's " +
      'replicas are in R different zones (default: none)',
    undefined,
  ],
  [
    'dead_node_timeout',
    '<duration>',
    "a new cluster's dead-node timeout (used only with --bootstrap): a member not heard from for this long " +
      'is marked down and its replicas are re-created on the others; seconds, or with a unit: 90s, 5m, 1h',
    '5m',
  ],
  [
    'leader_placement',
    '<spread|pack>',
    "where a new cluster puts its shards' leaders (used only with --bootstrap; later: " +
      '`ringkv cluster leader-placement`): spread evenly over the members, or pack them all on one node',
    DEFAULT_LEADER_PLACEMENT,
  ],
  [
    'client_api_thread',
    '<worker|inline>',
    "where the client port's HTTP/2 work runs: a worker thread (uses a second core), or the node's " +
      'own thread',
    DEFAULT_CLIENT_API_THREAD,
  ],
  [
    'wal_segment_mib',
    '<n>',
    'size of each preallocated write-ahead log segment: the node needs one free to start, and about 3.5 ' +
      'in all to take writes (else the NOSPACE alarm); smaller on small disks',
    '64',
  ],
  [
    'snapshot_entries',
    '<n>',
    'applied entries of a shard between two snapshots of it (etcd: --snapshot-count): the log before a ' +
      "snapshot is then dropped, and a watch cannot start before the snapshot once its shard's recent-change " +
      'ring (1024 changes) has moved on; smaller: less log kept and replayed on restart, more snapshot writes',
    '10000',
  ],
  [
    'entries_in_memory',
    '<n>',
    'applied entries of a shard whose bytes stay in memory behind its last one: older ones stay in the ' +
      'write-ahead log only (until a snapshot covers them) and are read back for a follower that lags ' +
      'further or a watch replaying them; larger: more memory, fewer reads',
    '1000',
  ],
  [
    'heap_growing_percent',
    '<n>',
    "how far V8's old generation may grow past what its last full collection kept before it collects " +
      "again, in percent (V8's --heap-growing-percent): less memory for more collections; 0 leaves it to " +
      'V8, which lets it grow up to 4×',
    String(DEFAULT_HEAP_GROWING_PERCENT),
  ],
  [
    'heap_growing_min_mb',
    '<n>',
    'but the old generation may always grow by this many MB (within 4×): a small heap is not ' +
      'collected every few MB; 0: the percentage alone',
    String(DEFAULT_HEAP_GROWING_MIN_MB),
  ],
  ['max_key_bytes', '<n>', 'largest key accepted', '4096'],
  ['max_value_bytes', '<n>', 'largest value accepted', '1048576'],
  [
    'request_timeout_ms',
    '<ms>',
    "server-side deadline of a request (the client's own may be shorter)",
    '5000',
  ],
  ['log_level', '<level>', 'log level: fatal, error, warn, info, debug, trace, silent', 'info'],
  [
    'cert_file',
    '<file>',
    "client port TLS: this node's certificate (PEM); with --key_file the client port serves TLS only, " +
      "and this node's calls to the others' client ports (forwarding, join) use TLS with it",
    undefined,
  ],
  ['key_file', '<file>', 'client port TLS: the private key of --cert_file (PEM)', undefined],
  [
    'trusted_ca_file',
    '<file>',
    "client port TLS: the CA (PEM) that clients' certificates (--client_cert_auth) and the other nodes' " +
      '--cert_file chain to; without it, the system CAs check the other nodes',
    undefined,
  ],
  [
    'peer_cert_file',
    '<file>',
    "raft port mutual TLS: this node's certificate (PEM), presented to and required of every peer; " +
      'give all three --peer_ flags',
    undefined,
  ],
  ['peer_key_file', '<file>', 'raft port mutual TLS: the private key of --peer_cert_file (PEM)', undefined],
  [
    'peer_trusted_ca_file',
    '<file>',
    "raft port mutual TLS: the CA (PEM) every node's --peer_cert_file chains to; a peer whose does not is refused",
    undefined,
  ],
];

/** The flags that take true or false (`--bootstrap` alone means true), with their defaults. */
const BOOL_FLAGS: readonly (readonly [string, string, string])[] = [
  [
    'unsafe_no_read_index',
    'UNSAFE, for testing the checkers only (ringkv chaos --planted-bug): serve linearizable reads ' +
      'locally without a ReadIndex round, so a deposed leader answers stale data',
    'false',
  ],
  ['bootstrap', 'start a new cluster with this node as its first member (first start only)', 'false'],
  [
    'client_cert_auth',
    'client port TLS: refuse clients without a certificate that chains to --trusted_ca_file',
    'false',
  ],
];

/** Every setting of `serve`, by its flag's name: each may come from a flag, the environment or a config file. */
export const SERVE_SETTINGS: readonly string[] = [
  ...FLAGS.map(([name]) => name),
  ...BOOL_FLAGS.map(([name]) => name),
];

const DEFAULTS: Settings = new Map(
  [
    ...FLAGS.map(([name, , , def]) => [name, def] as const),
    ...BOOL_FLAGS.map(([name, , def]) => [name, def] as const),
  ]
    .filter((e): e is readonly [string, string] => e[1] !== undefined)
    .map(([name, value]) => [name, { value, source: { kind: 'default' } }]),
);

const CONFIG_HELP = `
Configuration sources:
  Every flag can also be set by an environment variable, RINGKV_ and the flag's name in upper case
  (--node_id: RINGKV_NODE_ID, --raft_dir: RINGKV_RAFT_DIR; an empty variable counts as unset), or in
  a config file named by --config_file (or RINGKV_CONFIG_FILE): YAML, or JSON when its name ends in
  .json, with one key per flag spelled as the flag (node_id, or node-id as on the command line; a
  relative path is relative to the working directory, as on the command line):

    node_id: node1
    raft_dir: /var/lib/ringkv/node1
    port: 50051
    raft_port: 12001
    join_addr: node0.example.com:50051

  Precedence: a flag on the command line over its environment variable, the variable over the file,
  the file over the default. A bad value names where it came from (RINGKV_PORT=abc: --port …,
  node1.yaml: port: …). An unknown key in the file is an error (exit 2). A RINGKV_ variable that
  names no flag is reported as a warning and ignored (RINGKV_ENDPOINTS, RINGKV_CACERT, RINGKV_CERT,
  RINGKV_KEY and RINGKV_DEBUG, read by the client commands, are not reported).

TLS (etcd's flags): --cert_file and --key_file make the client port TLS only (add --client_cert_auth
and --trusted_ca_file to require client certificates); the three --peer_ flags make the raft port
mutual TLS. \`ringkv certs create\` makes a CA and certificates to try it out with.
`;

export function registerServeCommand(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'Run a ringkv node. Start the first node with --bootstrap=true and the others with --join_addr; ' +
        'restart any node with its original command line: it resumes from --raft_dir. Every flag may ' +
        'also come from the environment (RINGKV_NODE_ID, …) or a config file (--config_file): see below.',
    )
    .addHelpText('after', CONFIG_HELP);
  const declare = (name: string, arg: string, option: Option): void => {
    cmd.addOption(option);
    if (name.includes('_')) cmd.addOption(new Option(`--${name.replaceAll('_', '-')} ${arg}`).hideHelp());
  };
  for (const [name, arg, description, def] of FLAGS) {
    const opt = new Option(`--${name} ${arg}`, description);
    declare(name, arg, def === undefined ? opt : opt.default(def));
  }
  for (const [name, description, def] of BOOL_FLAGS) {
    declare(name, '[bool]', new Option(`--${name} [bool]`, description).default(def));
  }
  declare(
    'config_file',
    '<path>',
    new Option(
      '--config_file <path>',
      'YAML or JSON file of settings, keyed by flag name (see below); flags and RINGKV_ variables override it',
    ),
  );
  cmd.action(async (_opts: Record<string, unknown>, command: Command) => {
    const { flags, warnings } = await resolveServeFlags(fromCommandLine(command), process.env);
    // Before a failure too: a mistyped variable may be why a required setting is missing.
    for (const w of warnings) process.stderr.write(`ringkv serve: warning: ${w}\n`);
    if (typeof flags === 'string') {
      process.stderr.write(`ringkv serve: ${flags} (run ringkv serve --help for usage)\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    // The process's setting, not the node's: set before the node loads its state.
    const { heapGrowing, ...node } = flags;
    setHeapGrowing(heapGrowing);
    const { runNodeProcess } = await import('../../server/process.ts');
    const { createDashboard } = await import('../../dashboard/index.ts');
    const outcome = await runNodeProcess({ ...node, adminPages: createDashboard });
    // Exit now: open gRPC channels or timers must not keep a stopped node's process alive.
    process.exit(outcome === 'usage' ? EXIT_USAGE : outcome === 'failed' ? EXIT_FAILED : EXIT_OK);
  });
}

export interface ServeFlags extends NodeProcessOptions {
  /** V8's old-generation growing factor (heap-growing.ts). */
  readonly heapGrowing: HeapGrowing;
}

/** The settings given on the command line (as --name_with_underscores or --name-with-dashes), defaults left out. */
function fromCommandLine(command: Command): Map<string, Setting> {
  const opts = command.opts<Record<string, unknown>>();
  const given = new Map<string, Setting>();
  for (const name of [...SERVE_SETTINGS, 'config_file']) {
    // commander camel-cases the dashed spelling: --raft-port is `raftPort`.
    const camel = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    for (const key of camel === name ? [name] : [camel, name]) {
      const value = opts[key];
      if (command.getOptionValueSource(key) !== 'cli') continue;
      if (typeof value === 'string' || typeof value === 'boolean') {
        given.set(name, { value, source: { kind: 'flag' } });
        break;
      }
    }
  }
  return given;
}

/**
 * The node's options from its flags, the environment and the config file (in that order of
 * precedence, over the defaults), or a message naming the first bad setting and where it came
 * from; and warnings about RINGKV_ variables that name no flag.
 */
export async function resolveServeFlags(
  commandLine: Settings,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ readonly flags: ServeFlags | string; readonly warnings: string[] }> {
  const fromEnv = settingsFromEnv(env, [...SERVE_SETTINGS, 'config_file']);
  const warnings = fromEnv.unknown.map((v) => {
    const near = nearestFlag(v, SERVE_SETTINGS);
    return `${v} is not a serve setting, ignored${near === undefined ? '' : ` (did you mean ${envName(near)}?)`}`;
  });
  const configFile = commandLine.get('config_file') ?? fromEnv.settings.get('config_file');
  let fromFile: Settings = new Map();
  if (configFile !== undefined) {
    if (typeof configFile.value !== 'string' || configFile.value === '')
      return { flags: describeProblem('config_file', configFile, 'must name a file'), warnings };
    const read = await readConfigFile(configFile.value);
    if (typeof read === 'string') return { flags: read, warnings };
    const settings = settingsFromFile(read.doc, configFile.value, SERVE_SETTINGS);
    if (typeof settings === 'string') return { flags: settings, warnings };
    fromFile = settings;
  }
  const flags = parseServeSettings(mergeSettings(commandLine, fromEnv.settings, fromFile, DEFAULTS));
  return { flags, warnings };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads the settings and reports a bad one with its source (see describeProblem). */
class SettingsReader {
  private readonly settings: Settings;

  constructor(settings: Settings) {
    this.settings = settings;
  }

  text(name: string): string | undefined {
    const s = this.settings.get(name);
    return s === undefined ? undefined : String(s.value);
  }

  problem(name: string, problem: string): string {
    return describeProblem(name, this.settings.get(name), problem);
  }

  integer(name: string, min: number, max: number): number | string {
    const text = this.text(name) ?? '';
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
      const what =
        min === 1 && max === 65535 ? 'a port number (1-65535)' : `an integer from ${min} to ${max}`;
      return this.problem(name, `must be ${what}, got '${text}'`);
    }
    return n;
  }

  bool(name: string): boolean | string {
    const v = this.settings.get(name)?.value;
    if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
    if (v === undefined || v === false || v === 'false' || v === '0' || v === 'no') return false;
    return this.problem(name, `must be true or false, got '${String(v)}'`);
  }

  /** A setting that must be given somewhere; the message says the three ways to give it. */
  required(name: string, why: string): string {
    const v = this.text(name);
    if (v === undefined)
      return `--${name} is required (${why}): give --${name}, set ${envName(name)}, or put ${name} in the --config_file`;
    return v;
  }
}

/** The settings as typed options, or a message naming what is wrong and where it came from. */
export function parseServeSettings(settings: Settings): ServeFlags | string {
  const r = new SettingsReader(settings);
  const nums: Record<string, number> = {};
  const ranges: [string, number, number][] = [
    ['port', 1, 65535],
    ['raft_port', 1, 65535],
    ['shards', 1, 1024],
    ['replication_factor', 1, 7],
    ['max_key_bytes', 1, 65536],
    ['max_value_bytes', 1, 64 * 1024 * 1024],
    ['request_timeout_ms', 1, 3_600_000],
    ['join_timeout', 1, 86_400],
    ['wal_segment_mib', 1, 1024],
    ['snapshot_entries', 1, 10_000_000],
    ['entries_in_memory', 1, 10_000_000],
    ['heap_growing_percent', 0, HEAP_GROWING_PERCENT_MAX],
    ['heap_growing_min_mb', 0, HEAP_GROWING_MIN_MB_MAX],
  ];
  for (const [name, min, max] of ranges) {
    const n = r.integer(name, min, max);
    if (typeof n === 'string') return n;
    nums[name] = n;
  }
  const nodeId = r.text('node_id');
  if (nodeId === undefined) return r.required('node_id', 'a name unique in the cluster, e.g. node1');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId))
    return r.problem(
      'node_id',
      `'${nodeId}' may only hold letters, digits, '.', '_' and '-' (1 to 64 of them)`,
    );
  const raftDir = r.text('raft_dir');
  if (raftDir === undefined) return r.required('raft_dir', "the directory for this node's data");
  if (raftDir === '') return r.problem('raft_dir', 'must not be empty');
  const unsafeNoReadIndex = r.bool('unsafe_no_read_index');
  if (typeof unsafeNoReadIndex === 'string') return unsafeNoReadIndex;
  const bootstrap = r.bool('bootstrap');
  if (typeof bootstrap === 'string') return bootstrap;
  const joinAddr = r.text('join_addr');
  if (joinAddr !== undefined && !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(joinAddr)) {
    return r.problem('join_addr', `must be host:port, got '${joinAddr}'`);
  }
  const host = r.text('host') ?? 'localhost';
  if (host === '') return r.problem('host', 'must not be empty');
  const leaderPlacement = r.text('leader_placement') ?? DEFAULT_LEADER_PLACEMENT;
  if (!isLeaderPlacement(leaderPlacement))
    return r.problem(
      'leader_placement',
      `must be ${LEADER_PLACEMENTS.join(' or ')}, got '${leaderPlacement}'`,
    );
  const zone = r.text('zone') ?? '';
  if (!/^[A-Za-z0-9._-]{0,64}$/.test(zone))
    return r.problem(
      'zone',
      `'${zone}' may only hold letters, digits, '.', '_' and '-' (at most 64 of them)`,
    );
  const deadNodeTimeoutMs = parseDurationMs(r.text('dead_node_timeout') ?? '5m');
  if (
    deadNodeTimeoutMs === undefined ||
    deadNodeTimeoutMs < DEAD_NODE_TIMEOUT_MS_MIN ||
    deadNodeTimeoutMs > DEAD_NODE_TIMEOUT_MS_MAX
  )
    return r.problem(
      'dead_node_timeout',
      `must be a duration from 1s to 7d (seconds, or with a unit: 90s, 5m, 1h), got '${r.text('dead_node_timeout')}'`,
    );
  const clientApiThread = r.text('client_api_thread') ?? DEFAULT_CLIENT_API_THREAD;
  if (!isClientApiThread(clientApiThread))
    return r.problem(
      'client_api_thread',
      `must be ${CLIENT_API_THREADS.join(' or ')}, got '${clientApiThread}'`,
    );
  const logLevel = r.text('log_level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel))
    return r.problem('log_level', `must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  const tls = parseTlsSettings(r);
  if (typeof tls === 'string') return tls;
  const listen = r.text('listen') ?? host;
  const adminPort = parseAdminPort(r, nums['port']!);
  if (typeof adminPort === 'string') return adminPort;
  const adminListen = r.text('admin_listen') ?? listen;
  if (adminListen === '') return r.problem('admin_listen', 'must not be empty');
  return {
    port: nums['port']!,
    raftPort: nums['raft_port']!,
    nodeId,
    raftDir,
    bootstrap,
    joinAddr,
    joinTimeoutMs: nums['join_timeout']! * 1000,
    walSegmentBytes: nums['wal_segment_mib']! * 1024 * 1024,
    snapshotEveryEntries: nums['snapshot_entries']!,
    entriesInMemory: nums['entries_in_memory']!,
    heapGrowing: { percent: nums['heap_growing_percent']!, minMb: nums['heap_growing_min_mb']! },
    unsafeNoReadIndex,
    host,
    listen,
    shards: nums['shards']!,
    replicationFactor: nums['replication_factor']!,
    deadNodeTimeoutMs,
    zone,
    leaderPlacement,
    clientApiThread,
    maxKeyBytes: nums['max_key_bytes']!,
    maxValueBytes: nums['max_value_bytes']!,
    requestTimeoutMs: nums['request_timeout_ms']!,
    logLevel,
    tls,
    adminPort,
    adminListen,
  };
}

/** --admin_port, or the client port + 1000 when it is not given; 0: off. */
function parseAdminPort(r: SettingsReader, port: number): number | string {
  if (r.text('admin_port') !== undefined) return r.integer('admin_port', 0, 65535);
  const fallback = port + 1000;
  if (fallback > 65535)
    return r.problem(
      'port',
      `is ${port}: the admin port's default, --port + 1000, would be ${fallback}, beyond 65535; give --admin_port (0: none)`,
    );
  return fallback;
}

/**
 * The TLS files and which go together: a port's certificate and key both or neither; the raft
 * port's three or none (its TLS is mutual); --client_cert_auth needs the client port's TLS and the
 * CA that client certificates chain to. Reading the files is the node's (tls-files.ts).
 */
function parseTlsSettings(r: SettingsReader): TlsFileOptions | string {
  const file = (name: string): string | undefined | { problem: string } => {
    const v = r.text(name);
    return v === '' ? { problem: r.problem(name, 'must name a file') } : v;
  };
  const names = [
    'cert_file',
    'key_file',
    'trusted_ca_file',
    'peer_cert_file',
    'peer_key_file',
    'peer_trusted_ca_file',
  ] as const;
  const f: Partial<Record<(typeof names)[number], string>> = {};
  for (const name of names) {
    const v = file(name);
    if (typeof v === 'object') return v.problem;
    if (v !== undefined) f[name] = v;
  }
  const clientCertAuth = r.bool('client_cert_auth');
  if (typeof clientCertAuth === 'string') return clientCertAuth;
  if ((f.cert_file === undefined) !== (f.key_file === undefined)) {
    const [given, missing] =
      f.cert_file === undefined ? ['key_file', 'cert_file'] : ['cert_file', 'key_file'];
    return r.problem(given, `needs --${missing} too (the client port's certificate and its key)`);
  }
  if (f.trusted_ca_file !== undefined && f.cert_file === undefined)
    return r.problem('trusted_ca_file', 'needs --cert_file and --key_file (TLS on the client port)');
  if (clientCertAuth && (f.cert_file === undefined || f.trusted_ca_file === undefined))
    return r.problem(
      'client_cert_auth',
      "needs --cert_file, --key_file and --trusted_ca_file (the CA that clients' certificates chain to)",
    );
  const peer = [f.peer_cert_file, f.peer_key_file, f.peer_trusted_ca_file];
  if (peer.some((p) => p !== undefined) && peer.some((p) => p === undefined)) {
    const given = (['peer_cert_file', 'peer_key_file', 'peer_trusted_ca_file'] as const).find(
      (n) => f[n] !== undefined,
    ) as string;
    return r.problem(
      given,
      'needs --peer_cert_file, --peer_key_file and --peer_trusted_ca_file all three (mutual TLS between nodes)',
    );
  }
  return {
    certFile: f.cert_file,
    keyFile: f.key_file,
    trustedCaFile: f.trusted_ca_file,
    clientCertAuth,
    peerCertFile: f.peer_cert_file,
    peerKeyFile: f.peer_key_file,
    peerTrustedCaFile: f.peer_trusted_ca_file,
  };
}
