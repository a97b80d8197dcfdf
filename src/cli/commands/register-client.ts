// Declares the commands that talk to a cluster (put, get, del, cas, scan, cluster …), the
// local-cluster launcher (start-local) and the development certificates (certs create). Only
// declarations live here: each action loads its code (and gRPC) lazily, so `ringkv --help` stays fast.
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { LEADER_PLACEMENTS } from '../../node/metadata.ts';
import { registerCertsCommand } from './certs.ts';
import { DEFAULT_ENDPOINTS } from './client-common.ts';
import { outputOption } from './output.ts';

type Opts = Record<string, unknown>;

function positiveInt(name: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive integer.`);
    }
    return n;
  };
}

function leaseIdArg(text: string): bigint {
  if (!/^\d{1,20}$/.test(text) || BigInt(text) >> 48n === 0n || BigInt(text) >= 1n << 64n)
    throw new InvalidArgumentError('a lease id is the decimal number `lease grant` printed.');
  return BigInt(text);
}

function version(text: string): bigint {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError('a version is a non-negative integer.');
  return BigInt(text);
}

function hostPort(text: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):\d{1,5}$/.test(text)) {
    throw new InvalidArgumentError('expected host:port (e.g. localhost:50054).');
  }
  return text;
}

/** --endpoints, --timeout-ms, --debug, TLS (--cacert, --cert, --key), --hex: on every command that talks to a cluster. */
function withConnectionOptions(cmd: Command, hex = true): Command {
  cmd
    .addOption(
      new Option('--endpoints <list>', 'comma-separated host:port of one or more nodes (client ports)')
        .env('RINGKV_ENDPOINTS')
        .default(DEFAULT_ENDPOINTS),
    )
    .addOption(
      new Option(
        '--cacert <file>',
        "TLS: the CA certificate (PEM) that the nodes' certificates chain to; any of --cacert, --cert, --key means TLS",
      ).env('RINGKV_CACERT'),
    )
    .addOption(
      new Option('--cert <file>', 'TLS: client certificate (PEM), for nodes with --client_cert_auth').env(
        'RINGKV_CERT',
      ),
    )
    .addOption(new Option('--key <file>', 'TLS: the private key of --cert (PEM)').env('RINGKV_KEY'))
    .addOption(
      new Option('--timeout-ms <ms>', 'deadline of the request, retries included')
        .argParser(positiveInt('--timeout-ms'))
        .default(5000),
    )
    .option(
      '--debug',
      'print on stderr where the time goes: each attempt (node, why that node, time taken, outcome) and each shard-map refresh',
      false,
    );
  if (hex) cmd.option('--hex', 'keys and values are hex digits, in and out (otherwise UTF-8 text)', false);
  return cmd;
}

const valueFile = () =>
  new Option('--value-file <file>', 'read the value from FILE, byte for byte (instead of VALUE; not with -)');

const serializable = () =>
  new Option(
    '--serializable',
    'read from the contacted replica without consensus: faster, possibly stale',
  ).default(false);

function registerKv(program: Command): void {
  withConnectionOptions(
    program
      .command('put')
      .description(
        'Set KEY to VALUE. For a value too large or too binary for the command line, give - to read ' +
          'it from standard input, or --value-file FILE: both are taken byte for byte (even with --hex; ' +
          'a final newline is part of the value). Prints the new version.',
      )
      .argument('<key>', 'the key')
      .argument('[value]', 'the value; - reads it from standard input')
      .addOption(valueFile())
      .addOption(
        new Option(
          '--lease <id>',
          'attach KEY to this lease (`lease grant`, of the same shard): KEY is deleted when the lease expires or is revoked',
        ).argParser(leaseIdArg),
      )
      .addOption(outputOption()),
  ).action(async (key: string, value: string | undefined, opts: Opts, cmd: Command) => {
    const { runPut } = await import('./kv.ts');
    process.exitCode = await runPut(key, value, opts, cmd);
  });

  withConnectionOptions(
    program
      .command('get')
      .description('Print the value of KEY (a linearizable read). A missing key prints an error and exits 1.')
      .argument('<key>', 'the key')
      .addOption(serializable())
      .option(
        '--raw',
        'write the exact bytes of the value with no newline added (for binary values: `get k --raw > file`)',
        false,
      )
      .addOption(outputOption()),
  ).action(async (key: string, opts: Opts, cmd: Command) => {
    const { runGet } = await import('./kv.ts');
    process.exitCode = await runGet(key, opts, cmd);
  });

  withConnectionOptions(
    program
      .command('del')
      .alias('delete')
      .description(
        'Delete KEY (prints whether it existed; exit 0 either way). With --prefix, delete every key ' +
          'starting with KEY; with --end END, every key from KEY (included) to END (excluded). A range ' +
          'delete runs in each shard as one atomic step and prints the keys deleted in all: it is atomic ' +
          'per shard, not across shards (a reader may see some shards done and others not yet).',
      )
      .argument('<key>', 'the key; with --prefix the prefix, with --end the start of the range')
      .option('--prefix', 'delete every key that starts with KEY', false)
      .option('--end <end>', 'delete every key in [KEY, END)')
      .addOption(outputOption()),
  ).action(async (key: string, opts: Opts, cmd: Command) => {
    if (opts.prefix === true || opts.end !== undefined) {
      const { runDelRange } = await import('./txn.ts');
      process.exitCode = await runDelRange(key, opts, cmd);
      return;
    }
    const { runDel } = await import('./kv.ts');
    process.exitCode = await runDel(key, opts, cmd);
  });

  const collect = (v: string, all: string[]): string[] => [...all, v];
  withConnectionOptions(
    program
      .command('txn')
      .description(
        'A transaction: if every --if holds, run the --then operations, else the --else ones, as one ' +
          'atomic step. Every key must live in one shard: keys that share a {tag} do (hash tags: only ' +
          'the part between the first { and the next } is hashed); keys of several shards are refused ' +
          '(exit 1, naming the shards). A failed comparison runs --else and exits 0, as cas does. ' +
          'Prints which branch ran and what each operation returned.',
      )
      .argument(
        '[source]',
        '- reads the transaction from standard input as JSON: {"if": […], "then": […], "else": […]}, clauses as in the flags',
      )
      .option(
        '--if <compare>',
        "'KEY = VALUE', 'version(KEY) OP N' (OP: = != < >; a missing key has version 0), 'exists(KEY)', 'absent(KEY)'; repeat for more (all must hold)",
        collect,
        [],
      )
      .option(
        '--then <operation>',
        "'put KEY VALUE', 'get KEY' or 'del KEY', run when every --if holds; repeat for more (in order)",
        collect,
        [],
      )
      .option('--else <operation>', 'as --then, run when some --if does not hold', collect, [])
      .addOption(outputOption())
      .addHelpText(
        'after',
        `
A key or value is a word without spaces, or a JSON string in double quotes ("a b").

Examples:
  # move 10 from one account to another, only if the balance is still what was read
  ringkv txn --if '{acct:1}:balance = 100' --if 'version({acct:1}:lock) > 0' \
    --then 'put {acct:1}:balance 90' --then 'put {acct:1}:log "paid 10"' \
    --else 'get {acct:1}:balance'
  # create a key only if absent, and read it either way
  ringkv txn --if 'absent({u7}:name)' --then 'put {u7}:name ada' --then 'get {u7}:name' --else 'get {u7}:name'
  # the same transaction as JSON on standard input
  echo '{"if": ["absent({u7}:name)"], "then": ["put {u7}:name ada"], "else": ["get {u7}:name"]}' | ringkv txn -`,
      ),
  ).action(async (source: string | undefined, opts: Opts, cmd: Command) => {
    const { runTxn } = await import('./txn.ts');
    process.exitCode = await runTxn(source, opts, cmd);
  });

  withConnectionOptions(
    program
      .command('cas')
      .description(
        'Compare-and-swap: set KEY to VALUE only if it currently matches (give exactly one of --expect, ' +
          '--expect-absent, --expect-version). A failed comparison prints "not swapped: …" and exits 0. ' +
          'The new value may come from standard input (-) or --value-file FILE, as for put.',
      )
      .argument('<key>', 'the key')
      .argument('[value]', 'the new value (omit with --delete); - reads it from standard input')
      .addOption(valueFile())
      .option('--expect <old>', 'swap only if the current value is OLD')
      .option('--expect-absent', 'swap only if the key does not exist', false)
      .option(
        '--expect-version <n>',
        'swap only if the key exists with version N (printed by put and cas)',
        version,
      )
      .option('--delete', 'delete the key instead of setting it', false)
      .addOption(outputOption()),
  ).action(async (key: string, value: string | undefined, opts: Opts, cmd: Command) => {
    const { runCas } = await import('./kv.ts');
    process.exitCode = await runCas(key, value, opts, cmd);
  });

  withConnectionOptions(
    program
      .command('scan')
      .description(
        'List keys starting with PREFIX, in key order. Text output: one KEY<tab>VALUE line per key, ' +
          'with backslash, tab, newline, carriage return and other control characters in keys and values ' +
          'escaped as \\\\, \\t, \\n, \\r and \\xHH (so that every line is one key; a note on stderr says ' +
          'when that happened). For the exact text use --output json: one JSON document ' +
          '{"items": [{"key", "value", "version"}…], "more": true|false}, where "more" says that --limit ' +
          'stopped it; for the exact bytes add --hex (keys and values as hex digits, in either format).',
      )
      .argument('[prefix]', 'key prefix (empty: every key)', '')
      .addOption(
        new Option('--limit <n>', 'most keys to print').argParser(positiveInt('--limit')).default(100),
      )
      .option('--keys-only', 'print keys only', false)
      .addOption(
        new Option('--output <format>', 'text (escaped lines) or json (one document, exact text)')
          .choices(['text', 'json'])
          .default('text'),
      )
      .addOption(serializable()),
  ).action(async (prefix: string, opts: Opts, cmd: Command) => {
    const { runScan } = await import('./kv.ts');
    process.exitCode = await runScan(prefix, opts, cmd);
  });
}

function registerWatch(program: Command): void {
  withConnectionOptions(
    program
      .command('watch')
      .description(
        'Print each change of KEY (or, with --prefix, of every key starting with PREFIX) as it is committed, ' +
          'one line per event, until Ctrl+C (SIGINT) or SIGTERM: exit 0. Text: TYPE<tab>KEY<tab>VALUE<tab>' +
          'SHARD:POSITION (put or delete; a delete has an empty value; control characters escaped as scan ' +
          'does), and with --prev-kv a fifth column, the previous VALUE@VERSION or - when the key was absent. ' +
          'With --output json: one JSON object per line, {"type", "key", "value", "shard", "position"} ' +
          '(position as a string; "prevKv": {"value", "version"} or null with --prev-kv), keys and values as ' +
          "UTF-8 text, or hex digits with --hex. A position is the change's log index in its shard (a put's " +
          "version). The watch goes on when the node it talks to is lost: each shard's stream is resumed " +
          'on another endpoint (list several in --endpoints) from the last position printed + 1, so no ' +
          'change is printed twice or skipped. Once every stream is open, "watching: …" goes to stderr. Exit status: 0 when stopped by a signal; 1 when the cluster ' +
          'cannot be reached or --from is older than a shard keeps (the error names the oldest position); ' +
          '2 usage error.',
      )
      .argument('<key>', 'the key; with --prefix the prefix ("" for every key)')
      .option('--prefix', 'watch every key starting with KEY (one stream per shard)', false)
      .option(
        '--from <position>',
        'start at a past position instead of now: one number for every shard (e.g. 1: all that the shards ' +
          'still keep), or SHARD:INDEX pairs, comma-separated (e.g. 3:120,5:88, as the text output prints ' +
          'them; shards not named start from now); a start older than a shard keeps is an error (exit 1)',
      )
      .option('--prev-kv', "also print each event's previous value and version", false)
      .addOption(
        new Option('--output <format>', 'text (a line per event), or json (a JSON object per event per line)')
          .choices(['text', 'json'])
          .default('text'),
      )
      .addHelpText(
        'after',
        `
Examples:
  ringkv watch config/db-url                      # one key
  ringkv watch app/ --prefix --output json        # every key under app/, JSON lines
  ringkv watch app/ --prefix --from 3:121,5:89    # resume after the last positions seen`,
      ),
  ).action(async (key: string, opts: Opts, cmd: Command) => {
    const { runWatch } = await import('./watch.ts');
    process.exitCode = await runWatch(key, opts, cmd);
  });
}

function registerLease(program: Command): void {
  const lease = program
    .command('lease')
    .description(
      'Leases: a key put with --lease ID is deleted when the lease expires (no keep-alive reached its ' +
        "shard's leader within the TTL) or is revoked. A lease lives in one shard: only keys of that shard " +
        'can use it (grant it with --for-key naming one of them; keys sharing a {tag} share a shard).',
    );
  withConnectionOptions(
    lease
      .command('grant')
      .description(
        'Grant a lease of TTL_SECONDS (1 to 2592000) and print its id (with --output json: {"id": "…", "ttl": N}).',
      )
      .argument('<ttl_seconds>', 'time to live without a keep-alive, in seconds', positiveInt('TTL_SECONDS'))
      .option('--for-key <key>', "the lease lives in this key's shard (default: shard 1)")
      .addOption(
        new Option('--shard <n>', 'the lease lives in this data shard').argParser(positiveInt('--shard')),
      )
      .addOption(outputOption()),
  ).action(async (ttl: number, opts: Opts, cmd: Command) => {
    const { runLeaseGrant } = await import('./lease.ts');
    process.exitCode = await runLeaseGrant(ttl, opts, cmd);
  });
  withConnectionOptions(
    lease
      .command('keep-alive')
      .description(
        'Renew the lease every TTL/3 until Ctrl+C (SIGINT) or SIGTERM (exit 0), printing a line per ' +
          'renewal; exit 1 when the lease is gone (expired or revoked) or no renewal succeeded within its TTL.',
      )
      .argument('<id>', 'the lease id', leaseIdArg)
      .addOption(outputOption()),
    false,
  ).action(async (id: bigint, opts: Opts, cmd: Command) => {
    const { runLeaseKeepAlive } = await import('./lease.ts');
    process.exitCode = await runLeaseKeepAlive(id, opts, cmd);
  });
  withConnectionOptions(
    lease
      .command('revoke')
      .description('Revoke the lease: its keys are deleted at once. A lease that does not exist is no error.')
      .argument('<id>', 'the lease id', leaseIdArg)
      .addOption(outputOption()),
    false,
  ).action(async (id: bigint, opts: Opts, cmd: Command) => {
    const { runLeaseRevoke } = await import('./lease.ts');
    process.exitCode = await runLeaseRevoke(id, opts, cmd);
  });
  withConnectionOptions(
    lease
      .command('ttl')
      .description(
        "Print the lease's TTL and the time left before it expires, as its shard's leader sees it; exit 1 when it does not exist.",
      )
      .argument('<id>', 'the lease id', leaseIdArg)
      .option('--keys', 'also list the keys attached to it', false)
      .addOption(outputOption()),
  ).action(async (id: bigint, opts: Opts, cmd: Command) => {
    const { runLeaseTtl } = await import('./lease.ts');
    process.exitCode = await runLeaseTtl(id, opts, cmd);
  });
}

function registerShard(program: Command): void {
  const shard = program.command('shard').description('Inspect the data shards and where they live.');
  withConnectionOptions(
    shard
      .command('list')
      .description(
        'Every data shard as the shard table places it: its slots, voters, learners, leader, epoch (bumped on ' +
          'every change of its replicas) and the move in flight (source → target at its step). Exit status: 0, ' +
          'or 1 when no member answered with the table.',
      )
      .addOption(
        new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'),
      ),
    false,
  ).action(async (opts: Opts, cmd: Command) => {
    const { runShardList } = await import('./shard.ts');
    process.exitCode = await runShardList(opts, cmd);
  });
}

function registerSnapshot(program: Command): void {
  const snapshot = program
    .command('snapshot')
    .description('Back up a cluster to a file, and start a new cluster from one.');
  withConnectionOptions(
    snapshot
      .command('save')
      .description(
        "Every data shard's state, each at a linearizable point of that shard (not one point across shards), " +
          "into FILE with a manifest (cluster id, shard count, slot layout, each shard's applied index) and " +
          'checksums. Each shard is read from its leader (else another voter), in chunks. A progress bar on ' +
          'stderr when it is a terminal. Never overwrites FILE. Exit status: 0 saved, 1 failed (no FILE is left).',
      )
      .argument('<file>', 'the backup file to write')
      .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text')),
    false,
  ).action(async (file: string, opts: Opts, cmd: Command) => {
    const { runSnapshotSave } = await import('../backup/save.ts');
    process.exitCode = await runSnapshotSave(file, opts, cmd);
  });
  snapshot
    .command('restore')
    .description(
      'Writes the data directory of the first node of a NEW cluster (a new cluster id) holding the data of ' +
        'FILE, then exits; start the node with `ringkv serve --node_id ID --raft_dir DIR` and the same ' +
        '--host/--port/--raft_port, and join others to it as usual. The whole file is checked first: a ' +
        'truncated or damaged one is refused, naming the bad part, and nothing is written. DIR must be new or ' +
        'empty. Exit status: 0 restored, 1 the backup or the disk failed, 2 bad flags or a non-empty DIR.',
    )
    .argument('<file>', 'a file written by `ringkv snapshot save`')
    .requiredOption('--raft_dir <dir>', 'the data directory to create (new or empty)')
    .requiredOption('--node_id <id>', 'the id of the node that will serve it')
    .option('--host <host>', 'address others use to reach the node (as serve --host)', 'localhost')
    .option('--port <port>', 'its client port (as serve --port)', '50051')
    .option('--raft_port <port>', 'its peer port (as serve --raft_port)', '12001')
    .option('--zone <zone>', 'its failure domain (as serve --zone)', '')
    .option('--replication_factor <n>', 'voters per data shard of the new cluster', '3')
    .addOption(
      new Option('--leader_placement <placement>', "where the shards' leaders go")
        .choices([...LEADER_PLACEMENTS])
        .default('spread'),
    )
    .option('--dead_node_timeout <duration>', 'a member not heard from this long is marked down', '5m')
    .option('--wal_segment_mib <n>', 'size of each write-ahead log segment (as serve)', '64')
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (file: string, opts: Opts) => {
      const { runSnapshotRestore } = await import('../backup/restore.ts');
      process.exitCode = await runSnapshotRestore(file, opts);
    });
}

function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('Inspect and change cluster membership.');
  withConnectionOptions(
    cluster
      .command('status')
      .description(
        'Show every member (role, shards led, highest term, commit/applied summed over its groups, ' +
          'largest lag behind a leader), then what is wrong: groups without a leader, members that do not ' +
          'answer (a hung or stopped node is shown as unreachable after a fifth of --timeout-ms, 1 s by default), members that are ' +
          'not voters, and a warning when the cluster cannot survive another failure. Exit status: 0 ' +
          'healthy (every group has a leader, every member answers and is a voter, any one node can fail); ' +
          '1 problems listed, or no node answered; 2 usage error.',
      )
      .addOption(
        new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'),
      ),
    false,
  ).action(async (opts: Opts, cmd: Command) => {
    const { runClusterStatus } = await import('./cluster.ts');
    process.exitCode = await runClusterStatus(opts, cmd);
  });

  withConnectionOptions(
    cluster
      .command('health')
      .description(
        'One line per member, like `etcdctl endpoint health --cluster`: reachable or not, ready or not, ' +
          'and how long its Status took. The member list comes from --endpoints; then every member is ' +
          'asked at its own address, all at once, each within a fifth of --timeout-ms (1 s by default), ' +
          'so a hung or stopped node shows as unreachable after that and does not delay the others. ' +
          'Ready: it knows a leader of the metadata group and of every group it holds. Healthy: ' +
          'reachable, ready and no alarm (NOSPACE). Exit status: 0 every member healthy; 1 some member ' +
          'is not, or no node answered; 2 usage error. --output json: an array of one object per member ' +
          '{nodeId, clientAddr, healthy, reachable, ready, tookMs, alarms, reason}.',
      )
      .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text')),
    false,
  ).action(async (opts: Opts, cmd: Command) => {
    const { runClusterHealth } = await import('./health.ts');
    process.exitCode = await runClusterHealth(opts, cmd);
  });

  withConnectionOptions(
    cluster
      .command('join')
      .description(
        'Add a member (normally done by `ringkv serve --join_addr`): learner first, voter once caught up. ' +
          'Waits up to 60 s unless --timeout-ms is given.',
      )
      .requiredOption('--node_id <id>', "the new member's node id (required)")
      .requiredOption('--addr <host:port>', 'its client address (required)', hostPort)
      .requiredOption('--raft_addr <host:port>', 'its peer (Raft) address (required)', hostPort)
      .addOption(outputOption()),
    false,
  ).action(async (opts: Opts, cmd: Command) => {
    const { runClusterJoin } = await import('./cluster.ts');
    process.exitCode = await runClusterJoin(opts, cmd);
  });

  withConnectionOptions(
    cluster
      .command('leave')
      .description(
        'Remove member NODE from the cluster, moving its leaderships away first. ' +
          'Waits up to 60 s unless --timeout-ms is given. Refused at once (exit 1) when it cannot ' +
          'succeed: NODE is the last member, or the only voter of a group (add a node first).',
      )
      .argument('<node>', 'node id of the member to remove')
      .addOption(outputOption()),
    false,
  ).action(async (node: string, opts: Opts, cmd: Command) => {
    const { runClusterLeave } = await import('./cluster.ts');
    process.exitCode = await runClusterLeave(node, opts, cmd);
  });

  withConnectionOptions(
    cluster
      .command('configure')
      .description(
        "Change the cluster's settings, each one given: --replication-factor (voters per shard, R: the " +
          'rebalancer then adds or removes replicas, shard by shard), --dead-node-timeout (a member not heard ' +
          'from for this long is marked down and its replicas re-created on the others) and --moves-in-flight ' +
          '(replica moves at once, cluster-wide). Prints the settings the cluster then holds. Exit status: 0; ' +
          '1 when the cluster refuses a value (out of its bounds) or cannot be reached; 2 usage error.',
      )
      .option('--replication-factor <n>', 'voters per data shard, 1 to 7')
      .option('--dead-node-timeout <duration>', 'seconds, or with a unit: 90s, 5m, 1h (1s to 7d)')
      .option('--moves-in-flight <n>', 'replica moves at once, cluster-wide')
      .addOption(outputOption()),
    false,
  ).action(async (opts: Opts, cmd: Command) => {
    const { runClusterConfigure } = await import('./cluster.ts');
    process.exitCode = await runClusterConfigure(opts, cmd);
  });

  withConnectionOptions(
    cluster
      .command('rebalance')
      .description(
        'With --dry-run: the replica moves in flight and those the rebalancer wants (source → target, why, ' +
          'and the limit holding each back), from the shard table of the member that applied the most of ' +
          'it. The rebalancer runs by itself on the metadata leader; this changes nothing. Exit status: 0, ' +
          'or 1 when no member answered with the table, 2 without --dry-run.',
      )
      .option('--dry-run', 'print what the rebalancer would do (required)')
      .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text')),
    false,
  ).action(async (opts: Opts, cmd: Command) => {
    if (opts.dryRun !== true) {
      process.stderr.write(
        'ringkv cluster rebalance: the rebalancer runs by itself on the metadata leader; ' +
          'use --dry-run to see what it wants to move\n',
      );
      process.exitCode = 2;
      return;
    }
    const { runRebalanceDryRun } = await import('./shard.ts');
    process.exitCode = await runRebalanceDryRun(opts, cmd);
  });

  withConnectionOptions(
    cluster
      .command('leader-placement')
      .description(
        'Choose where the shards\' leaders go, cluster-wide: "spread" (evenly over the members: every ' +
          'machine serves its share; the default) or "pack" (all on one node, like etcd\'s single leader: ' +
          "less CPU per write when the members share one machine's cores). Then waits, printing the " +
          'leaderships as they move, until they match (up to 60 s unless --timeout-ms is given).',
      )
      .addArgument(new Argument('<placement>', 'spread or pack').choices(LEADER_PLACEMENTS))
      .option('--no-wait', 'return once the cluster has recorded the placement')
      .addOption(outputOption()),
    false,
  ).action(async (placement: string, opts: Opts, cmd: Command) => {
    const { runClusterLeaderPlacement } = await import('./cluster.ts');
    process.exitCode = await runClusterLeaderPlacement(placement, opts, cmd);
  });
}

function registerStartLocal(program: Command): void {
  program
    .command('start-local')
    .description(
      'Start a local 3-node cluster as separate processes (what `npm start` runs): client ports ' +
        '50051-50053, peer ports 12001-12003, data in ./data/node1..3 (a restart resumes). Ctrl+C stops all three.',
    )
    .option('--data-dir <dir>', 'where the nodes keep their data and logs', './data')
    .addOption(
      new Option('--base-port <port>', 'client port of node1 (node2, node3 take the next ones)')
        .argParser(positiveInt('--base-port'))
        .default(50051),
    )
    .addOption(
      new Option('--base-raft-port <port>', 'peer port of node1')
        .argParser(positiveInt('--base-raft-port'))
        .default(12001),
    )
    .addOption(
      new Option('--ready-timeout-ms <ms>', 'how long to wait for the cluster to form')
        .argParser(positiveInt('--ready-timeout-ms'))
        .default(60000),
    )
    .action(async (opts: Opts) => {
      const { runStartLocal } = await import('./start.ts');
      process.exitCode = await runStartLocal(opts);
    });
}

/** Adds every client command to the `ringkv` program, with the local tools beside them (start-local, certs). */
function registerLock(program: Command): void {
  withConnectionOptions(
    program
      .command('lock')
      .description(
        'Take lock NAME (waiting while someone else holds it), run COMMAND with RINGKV_LOCK_NAME and ' +
          'RINGKV_LOCK_TOKEN (the fencing token: higher for every later holder) in its environment while ' +
          "the lock's lease is kept alive, then release it. Exits with COMMAND's status; 1 when the lock " +
          'could not be taken, or was lost while COMMAND ran (COMMAND is sent SIGTERM); 2 usage. Ctrl+C ' +
          'while waiting gives up; while COMMAND runs it is passed on to COMMAND.',
      )
      .argument('<name>', 'the lock name')
      .argument('[command...]', 'the command to run, after --')
      .addOption(
        new Option('--ttl <seconds>', "the lease's TTL: how long a holder that died blocks the others")
          .argParser(positiveInt('--ttl'))
          .default(10),
      )
      .addOption(outputOption())
      .addHelpText(
        'after',
        `
Examples:
  ringkv lock nightly-backup -- ./backup.sh          # one backup at a time across machines
  ringkv lock db-migrate --ttl 30 -- npm run migrate  # a dead holder blocks others for 30 s at most`,
      ),
    false,
  ).action(async (name: string, command: string[], opts: Opts, cmd: Command) => {
    const { runLock } = await import('./lock.ts');
    process.exitCode = await runLock(name, command, opts, cmd);
  });
}

export function registerClientCommands(program: Command): void {
  registerLock(program);
  registerKv(program);
  registerLease(program);
  registerWatch(program);
  registerCluster(program);
  registerShard(program);
  registerSnapshot(program);
  registerStartLocal(program);
  registerCertsCommand(program);
}
