// Where `ringkv serve` takes its settings from: flags over RINGKV_ variables over the config file
// over the defaults, and a bad value reported in the words of the source it came from.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveServeFlags, type ServeFlags } from './serve.ts';
import type { Setting } from './serve-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-serve-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes `text` to a new file named `name` (in its own directory) and returns its path. */
function file(name: string, text: string): string {
  const sub = join(dir, String(files++));
  mkdirSync(sub);
  const path = join(sub, name);
  writeFileSync(path, text);
  return path;
}

/** Command-line settings as fromCommandLine makes them. */
function flags(values: Record<string, string | boolean>): Map<string, Setting> {
  return new Map(Object.entries(values).map(([k, value]) => [k, { value, source: { kind: 'flag' } }]));
}

async function resolve(
  cli: Record<string, string | boolean>,
  env: Record<string, string> = {},
): Promise<{ flags: ServeFlags | string; warnings: string[] }> {
  return resolveServeFlags(flags(cli), env);
}

async function ok(
  cli: Record<string, string | boolean>,
  env: Record<string, string> = {},
): Promise<ServeFlags> {
  const r = await resolve(cli, env);
  if (typeof r.flags === 'string') assert.fail(`expected options, got: ${r.flags}`);
  return r.flags;
}

async function fails(
  cli: Record<string, string | boolean>,
  env: Record<string, string> = {},
): Promise<string> {
  const r = await resolve(cli, env);
  if (typeof r.flags !== 'string') assert.fail(`expected a problem, got options ${JSON.stringify(r.flags)}`);
  return r.flags;
}

const BASE = { node_id: 'n1', raft_dir: '/data/n1' };

describe('precedence: flag over environment over file over default', () => {
  test('each setting takes the highest source that gives it', async () => {
    const yaml = file(
      'node.yaml',
      'node_id: from-file\nraft_dir: /file\nport: 1001\nraft_port: 2001\nshards: 3\nlog_level: warn\n',
    );
    const env = { RINGKV_PORT: '1002', RINGKV_RAFT_PORT: '2002', RINGKV_NODE_ID: 'from-env' };
    const all = await ok({ config_file: yaml, port: '1003', node_id: 'from-flag' }, env);
    assert.deepEqual(
      [all.port, all.raftPort, all.nodeId, all.raftDir, all.shards, all.logLevel, all.requestTimeoutMs],
      [1003, 2002, 'from-flag', '/file', 3, 'warn', 5000],
    );
    const noFlags = await ok({ config_file: yaml }, env);
    assert.deepEqual([noFlags.port, noFlags.nodeId], [1002, 'from-env']);
    const fileOnly = await ok({ config_file: yaml });
    assert.deepEqual([fileOnly.port, fileOnly.raftPort, fileOnly.nodeId], [1001, 2001, 'from-file']);
    const defaults = await ok(BASE);
    assert.deepEqual([defaults.port, defaults.raftPort, defaults.shards], [50051, 12001, 8]);
    assert.deepEqual([defaults.replicationFactor, defaults.zone], [3, '']);
  });

  test('the replication factor and the zone come from any source and are checked', async () => {
    const yaml = file('zone.yaml', 'node_id: z\nraft_dir: /z\nzone: rack-1\nreplication_factor: 5\n');
    const fromFile = await ok({ config_file: yaml });
    assert.deepEqual([fromFile.replicationFactor, fromFile.zone], [5, 'rack-1']);
    const fromEnv = await ok(BASE, { RINGKV_ZONE: 'rack-2', RINGKV_REPLICATION_FACTOR: '1' });
    assert.deepEqual([fromEnv.replicationFactor, fromEnv.zone], [1, 'rack-2']);
    assert.match(await fails({ ...BASE, replication_factor: '8' }), /--replication_factor .*from 1 to 7/);
    assert.match(await fails({ ...BASE, zone: 'a b' }), /--zone/);
  });

  test("V8's heap growing: 50 % and 32 MB unless given, 0 to 300 % and 0 to 4096 MB from any source", async () => {
    assert.deepEqual((await ok(BASE)).heapGrowing, { percent: 50, minMb: 32 });
    assert.equal((await ok({ ...BASE, heap_growing_percent: '0' })).heapGrowing.percent, 0);
    assert.equal((await ok(BASE, { RINGKV_HEAP_GROWING_PERCENT: '300' })).heapGrowing.percent, 300);
    assert.equal((await ok({ ...BASE, heap_growing_min_mb: '0' })).heapGrowing.minMb, 0);
    assert.equal((await ok(BASE, { RINGKV_HEAP_GROWING_MIN_MB: '4096' })).heapGrowing.minMb, 4096);
    assert.equal(
      await fails({ ...BASE, heap_growing_percent: '301' }),
      "--heap_growing_percent must be an integer from 0 to 300, got '301'",
    );
    assert.equal(
      await fails({ ...BASE, heap_growing_min_mb: '4097' }),
      "--heap_growing_min_mb must be an integer from 0 to 4096, got '4097'",
    );
  });

  test('entries kept in memory: 1000 unless given, 1 to 10,000,000', async () => {
    assert.equal((await ok(BASE)).entriesInMemory, 1000);
    assert.equal((await ok({ ...BASE, entries_in_memory: '50' })).entriesInMemory, 50);
    assert.equal((await ok(BASE, { RINGKV_ENTRIES_IN_MEMORY: '7' })).entriesInMemory, 7);
    assert.match(
      await fails({ ...BASE, entries_in_memory: '0' }),
      /--entries_in_memory must be an integer from 1 to/,
    );
  });

  test('the config file may come from RINGKV_CONFIG_FILE; --config_file wins over it', async () => {
    const a = file('a.yaml', 'node_id: a\nraft_dir: /a\n');
    const b = file('b.json', '{"node_id": "b", "raft_dir": "/b"}');
    assert.equal((await ok({}, { RINGKV_CONFIG_FILE: a })).nodeId, 'a');
    assert.equal((await ok({ config_file: b }, { RINGKV_CONFIG_FILE: a })).nodeId, 'b');
  });

  test('an empty variable counts as unset', async () => {
    const r = await ok(BASE, { RINGKV_JOIN_ADDR: '', RINGKV_PORT: '' });
    assert.deepEqual([r.joinAddr, r.port], [undefined, 50051]);
  });

  test('a bad value shadowed by a higher source is not used, so not reported', async () => {
    const r = await ok({ ...BASE, port: '7000' }, { RINGKV_PORT: 'abc' });
    assert.equal(r.port, 7000);
  });

  test('YAML and JSON give the same options, both spellings of a key, typed scalars', async () => {
    const yaml = file(
      'n.yaml',
      '# a comment\nnode-id: n1\nraft_dir: /data/n1\nraft-port: 12005\nbootstrap: true\njoin_addr:\n',
    );
    const json = file(
      'n.json',
      '{"node_id": "n1", "raft-dir": "/data/n1", "raft_port": 12005, "bootstrap": true, "join_addr": null}',
    );
    const fromYaml = await ok({ config_file: yaml });
    const fromJson = await ok({ config_file: json });
    assert.deepEqual(fromYaml, fromJson);
    assert.deepEqual([fromYaml.raftPort, fromYaml.bootstrap, fromYaml.joinAddr], [12005, true, undefined]);
  });

  test('bootstrap from each source: yes/no words, true/false, 1/0', async () => {
    assert.equal((await ok(BASE, { RINGKV_BOOTSTRAP: 'true' })).bootstrap, true);
    assert.equal((await ok({ ...BASE, bootstrap: 'false' }, { RINGKV_BOOTSTRAP: 'true' })).bootstrap, false);
    assert.equal((await ok({ ...BASE, bootstrap: true })).bootstrap, true);
    const f = file('b.yaml', 'bootstrap: "yes"\n');
    assert.equal((await ok({ ...BASE, config_file: f })).bootstrap, true);
  });
});

describe('a bad value names its source', () => {
  test('from a flag', async () => {
    assert.equal(await fails({ ...BASE, port: 'abc' }), "--port must be a port number (1-65535), got 'abc'");
  });

  test('from the environment', async () => {
    assert.equal(
      await fails(BASE, { RINGKV_PORT: 'abc' }),
      "RINGKV_PORT=abc: --port must be a port number (1-65535), got 'abc'",
    );
    assert.equal(
      await fails(BASE, { RINGKV_LEADER_PLACEMENT: 'random' }),
      "RINGKV_LEADER_PLACEMENT=random: --leader_placement must be spread or pack, got 'random'",
    );
  });

  test('from a YAML file, with the key as spelled there', async () => {
    const f = file('node1.yaml', 'node_id: n1\nraft_dir: /d\nraft-port: 70000\n');
    assert.equal(
      await fails({ config_file: f }),
      `${f}: raft-port: must be a port number (1-65535), got '70000'`,
    );
  });

  test('from a JSON file', async () => {
    const f = file('node1.json', '{"node_id": "bad id!", "raft_dir": "/d"}');
    assert.equal(
      await fails({ config_file: f }),
      `${f}: node_id: 'bad id!' may only hold letters, digits, '.', '_' and '-' (1 to 64 of them)`,
    );
    const g = file('shards.json', '{"node_id": "n", "raft_dir": "/d", "shards": 2.5}');
    assert.equal(
      await fails({ config_file: g }),
      `${g}: shards: must be an integer from 1 to 1024, got '2.5'`,
    );
  });

  test('a required setting given nowhere says the three ways to give it', async () => {
    assert.equal(
      await fails({ raft_dir: '/d' }),
      '--node_id is required (a name unique in the cluster, e.g. node1): give --node_id, set ' +
        'RINGKV_NODE_ID, or put node_id in the --config_file',
    );
  });
});

describe('the config file itself', () => {
  test('an unknown key is an error naming the key and the file', async () => {
    const f = file('typo.yaml', 'node_id: n1\nraft_dir: /d\nraft_prot: 12001\n');
    const msg = await fails({ config_file: f });
    assert.match(
      msg,
      new RegExp(`^${f}: unknown key 'raft_prot' \\(did you mean 'raft_port'\\?\\); the keys are`),
    );
    const g = file('far.json', '{"node_id": "n1", "raft_dir": "/d", "compression": "zstd"}');
    assert.match(
      await fails({ config_file: g }),
      new RegExp(`^${g}: unknown key 'compression'; the keys are`),
    );
  });

  test('a key given in both spellings is an error', async () => {
    const f = file('both.yaml', 'node_id: n1\nnode-id: n2\nraft_dir: /d\n');
    assert.equal(
      await fails({ config_file: f }),
      `${f}: 'node_id' and 'node-id' are the same setting; give it once`,
    );
  });

  test('syntax errors, a duplicated key, a list or a nested value, a missing file', async () => {
    const cases: [string, string, RegExp][] = [
      ['bad.yaml', 'node_id: [n1\n', /: not valid YAML: /],
      ['dup.yaml', 'node_id: a\nnode_id: b\n', /: not valid YAML: Map keys must be unique at line 2/],
      ['bad.json', '{"node_id": "n1",}', /: not valid JSON: /],
      ['list.yaml', '- node_id\n- n1\n', /: expected a mapping of flag names to values .*, got a list$/],
      ['nested.yaml', 'node_id:\n  name: n1\n', /: node_id: must be a single value, got a mapping$/],
    ];
    for (const [name, text, expected] of cases) {
      const f = file(name, text);
      const msg = await fails({ config_file: f });
      assert.ok(msg.startsWith(`${f}: `), msg);
      assert.match(msg, expected);
    }
    const missing = join(dir, 'missing.yaml');
    assert.match(
      await fails({ config_file: missing }),
      /^--config_file .*missing\.yaml: cannot read it: ENOENT/,
    );
  });

  test('an empty file sets nothing', async () => {
    const r = await ok({ ...BASE, config_file: file('empty.yaml', '') });
    assert.equal(r.port, 50051);
  });
});

describe('RINGKV_ variables that name no flag', () => {
  test('are reported as warnings (with the likely flag), except the client commands’ own', async () => {
    const r = await resolve(BASE, {
      RINGKV_RAFTDIR: '/x',
      RINGKV_NO_SUCH_THING: '1',
      RINGKV_ENDPOINTS: 'localhost:50051',
      RINGKV_DEBUG: '1',
      PATH: '/bin',
    });
    assert.equal(typeof r.flags, 'object');
    assert.deepEqual(r.warnings, [
      'RINGKV_NO_SUCH_THING is not a serve setting, ignored',
      'RINGKV_RAFTDIR is not a serve setting, ignored (did you mean RINGKV_RAFT_DIR?)',
    ]);
  });

  test('are reported even when the settings fail (a typo may be why one is missing)', async () => {
    const r = await resolve({ raft_dir: '/d' }, { RINGKV_NODEID: 'n1' });
    assert.match(String(r.flags), /^--node_id is required/);
    assert.deepEqual(r.warnings, [
      'RINGKV_NODEID is not a serve setting, ignored (did you mean RINGKV_NODE_ID?)',
    ]);
  });
});

/** `ringkv serve …` as a child process: it exits 2 on a bad setting, before starting anything. */
function serve(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  const root = join(import.meta.dirname, '..', '..', '..');
  return new Promise((res) => {
    execFile(
      join(root, 'node_modules', '.bin', 'node'),
      [join(root, 'src', 'cli', 'main.ts'), 'serve', ...args],
      { cwd: dir, timeout: 30_000, env: { PATH: process.env.PATH ?? '', ...env } },
      (err, _stdout, stderr) => res({ code: err === null ? 0 : Number(err.code), stderr }),
    );
  });
}

describe('the command line', () => {
  test('a flag, dashed or not, overrides the variable; a bad variable is named', async () => {
    const f = file('cli.yaml', 'node_id: n1\nraft_dir: ./d\nport: 1\n');
    const env = { RINGKV_PORT: 'abc', RINGKV_CONFIG_FILE: f };
    const bad = await serve([], env);
    assert.deepEqual(
      [bad.code, bad.stderr],
      [
        2,
        "ringkv serve: RINGKV_PORT=abc: --port must be a port number (1-65535), got 'abc' (run ringkv serve --help for usage)\n",
      ],
    );
    // Past the port, the first setting found bad is the flag's: so the flag replaced the variable.
    const dashed = await serve(['--port', '70000'], env);
    assert.match(dashed.stderr, /^ringkv serve: --port must be a port number \(1-65535\), got '70000'/);
    const kebab = await serve(['--raft-port', '0', '--port', '5'], env);
    assert.match(kebab.stderr, /^ringkv serve: --raft_port must be a port number \(1-65535\), got '0'/);
  });

  test('serve --help documents the sources and their precedence', async () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const help = await new Promise<string>((res) => {
      execFile(
        join(root, 'node_modules', '.bin', 'node'),
        [join(root, 'src', 'cli', 'main.ts'), 'serve', '--help'],
        (_e, stdout) => res(stdout),
      );
    });
    for (const phrase of [
      '--config_file <path>',
      'RINGKV_NODE_ID',
      'Precedence: a flag on the command line over its environment variable, the variable over the file',
      'An unknown key in the file is an error',
    ]) {
      assert.ok(help.includes(phrase), `serve --help lacks ${JSON.stringify(phrase)}:\n${help}`);
    }
  });
});

describe('the admin port', () => {
  test('defaults to the client port + 1000 on the client port’s interface; 0 turns it off', async () => {
    const d = await ok({ ...BASE, port: '50052', listen: '0.0.0.0' });
    assert.deepEqual([d.adminPort, d.adminListen], [51052, '0.0.0.0']);
    const off = await ok({ ...BASE }, { RINGKV_ADMIN_PORT: '0' });
    assert.equal(off.adminPort, 0);
    const given = await ok({ ...BASE, admin_port: '9100', admin_listen: '127.0.0.1' });
    assert.deepEqual([given.adminPort, given.adminListen], [9100, '127.0.0.1']);
  });

  test('a bad one, or a default beyond 65535, is named', async () => {
    assert.equal(
      await fails({ ...BASE, admin_port: '70000' }),
      "--admin_port must be an integer from 0 to 65535, got '70000'",
    );
    assert.match(
      await fails({ ...BASE, port: '65000' }),
      /^--port is 65000: the admin port's default, --port \+ 1000, would be 66000, beyond 65535; give --admin_port/,
    );
    assert.equal((await ok({ ...BASE, port: '65000', admin_port: '0' })).adminPort, 0);
  });
});
