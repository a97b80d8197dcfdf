// The package a user installs: `npm pack` of this repository, installed into an empty project, used
// from plain JavaScript and from TypeScript (checked against the package's declarations) against a
// real node, and its `ringkv` command run from node_modules/.bin. The package ships the compiled
// JavaScript of dist/ (Node does not strip types inside node_modules), so this is the only test that
// runs that build.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { NODE_BIN, ProcessCluster, ROOT } from './harness.ts';

const run = promisify(execFile);
/** npm pack (with its build) and npm install from the local cache take seconds; a cold cache longer. */
const NPM_TIMEOUT_MS = 300_000;
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const JS_APP = `import { RingkvClient, bytesToUtf8 } from 'ringkv';
const client = new RingkvClient({ endpoints: [process.argv[2]] });
const put = await client.put('from-js', 'hello from javascript');
const got = await client.get('from-js');
const status = await client.status();
console.log(
  JSON.stringify({ version: String(put.version), value: bytesToUtf8(got.value), release: status.version }),
);
client.close();
`;

const TS_APP = `import { RingkvClient, bytesToUtf8, type GetResult } from 'ringkv';
const client: RingkvClient = new RingkvClient({ endpoints: [process.argv[2] as string] });
await client.put('from-ts', 'hello from typescript');
const got: GetResult = await client.get('from-ts');
if (!got.found) throw new Error('from-ts was not found');
console.log(bytesToUtf8(got.value));
client.close();
`;

/** Uses the client wrongly: the package's declarations must make the type check fail. */
const TS_WRONG = `import { RingkvClient } from 'ringkv';
const client = new RingkvClient({ endpoints: ['127.0.0.1:1'] });
const n: number = await client.get('k');
console.log(n);
`;

const TSCONFIG = JSON.stringify({
  compilerOptions: {
    target: 'es2024',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: [],
  },
});

describe('the npm package', { timeout: 600_000 }, () => {
  let dir: string;
  let cluster: ProcessCluster;
  let endpoint: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ringkv-package-'));
    cluster = await ProcessCluster.start({ nodes: 1, extraArgs: ['--host', '127.0.0.1'] });
    endpoint = `127.0.0.1:${cluster.nodes[0]!.port}`;
  });

  after(async () => {
    await cluster?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('npm pack, npm install, then JavaScript, TypeScript and the CLI use it against a live node', async () => {
    const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      timeout: NPM_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(info !== undefined, packed.stdout);
    const files = info.files.map((f) => f.path);
    assert.ok(files.includes('dist/src/client/index.js'), 'the compiled client is packed');
    assert.ok(files.includes('dist/src/client/index.d.ts'), 'its declarations are packed');
    assert.ok(!files.some((f) => f.endsWith('.test.ts') || f.startsWith('src/')), 'no sources or tests');

    const app = join(dir, 'app');
    await run('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run(
      'npm',
      [
        'install',
        join(dir, info.filename),
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
      ],
      { cwd: app, timeout: NPM_TIMEOUT_MS },
    );
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'ringkv', 'package.json'), 'utf8'));
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    assert.equal(installed.version, version);

    writeFileSync(join(app, 'app.mjs'), JS_APP);
    const js = await run(NODE_BIN, ['app.mjs', endpoint], { cwd: app, timeout: 60_000 });
    const answer = JSON.parse(js.stdout) as { version: string; value: string; release: string };
    assert.equal(answer.value, 'hello from javascript');
    assert.equal(answer.release, version, 'Status names the release the node runs');
    assert.ok(Number(answer.version) > 0, js.stdout);

    writeFileSync(join(app, 'tsconfig.json'), TSCONFIG);
    writeFileSync(join(app, 'app.ts'), TS_APP);
    await run(NODE_BIN, [TSC, '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 });
    const ts = await run(NODE_BIN, ['app.ts', endpoint], { cwd: app, timeout: 60_000 });
    assert.equal(ts.stdout, 'hello from typescript\n');

    // The declarations are the package's own types, not `any`: a wrong use does not type-check.
    writeFileSync(join(app, 'app.ts'), TS_WRONG);
    const wrong = await run(NODE_BIN, [TSC, '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 }).then(
      () => undefined,
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    assert.ok(wrong !== undefined, 'a GetResult assigned to a number type-checked');
    assert.match(wrong, /GetResult/);

    // The command comes with the package, compiled, and talks to the same node.
    const bin = join(app, 'node_modules', '.bin', 'ringkv');
    const cliVersion = await run(NODE_BIN, [bin, '--version'], { cwd: app, timeout: 60_000 });
    assert.equal(cliVersion.stdout, `${version}\n`);
    const cliGet = await run(NODE_BIN, [bin, 'get', 'from-ts', '--endpoints', endpoint], {
      cwd: app,
      timeout: 60_000,
    });
    assert.equal(cliGet.stdout, 'hello from typescript\n');
  });
});
