// `ringkv certs create`: a local CA and certificates to try TLS with (for development, not for
// production: the CA's key sits beside the certificates and nothing can revoke them). Writes
// ca.crt/ca.key, NODE.crt/NODE.key per node and client.crt/client.key into --out, refuses to
// overwrite an existing file, keeps the keys readable by their owner only, and prints the flags that
// use them. Declarations only at load time; node-forge is loaded when the command runs.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { outputOption, printJson, reportFailure, wantsJson } from './output.ts';

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;
const DEFAULT_HOSTS = 'localhost,127.0.0.1,::1';
const CLIENT_NAME = 'client';

export function registerCertsCommand(program: Command): void {
  const certs = program
    .command('certs')
    .description('Make TLS certificates for trying ringkv with TLS (development only).');
  certs
    .command('create')
    .description(
      'Create a local CA and, signed by it, one certificate and key per node (valid for server and ' +
        "client authentication, so one pair serves both ports and the node's calls to the others; " +
        "its names: the node's own and --hosts) and a client certificate for the CLI (client.crt). " +
        'For development and trying TLS out only: the CA key is written beside them. Refuses to ' +
        'overwrite existing files. Prints the serve and client flags that use them.',
    )
    .requiredOption('--out <dir>', 'directory to write the files into (created if missing)')
    .requiredOption('--nodes <list>', 'comma-separated node names, e.g. node1,node2,node3')
    .addOption(
      new Option('--hosts <list>', 'host names and IP addresses every node certificate is valid for').default(
        DEFAULT_HOSTS,
      ),
    )
    .addOption(new Option('--days <n>', 'validity in days').default('365'))
    .addOption(outputOption())
    .action(async (opts: Record<string, string>) => {
      process.exitCode = await runCertsCreate(opts);
    });
}

function list(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export async function runCertsCreate(opts: Record<string, string>): Promise<number> {
  const { generateCerts, problemWith } = await import('./certs-generate.ts');
  const out = opts.out ?? '';
  const days = /^\d+$/.test(opts.days ?? '') ? Number(opts.days) : Number.NaN;
  const options = {
    nodes: list(opts.nodes),
    hosts: list(opts.hosts),
    validDays: days,
    clientName: CLIENT_NAME,
  };
  const problem = out === '' ? '--out must name a directory' : problemWith(options);
  if (problem !== undefined) {
    process.stderr.write(`ringkv certs create: ${problem}\n`);
    return EXIT_USAGE;
  }
  const names = ['ca', ...options.nodes, CLIENT_NAME];
  const files = names.flatMap((n) => [join(out, `${n}.crt`), join(out, `${n}.key`)]);
  const existing = files.filter((f) => existsSync(f));
  if (existing.length > 0) {
    const message =
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; ` +
      'choose another --out or remove them';
    reportFailure(opts, 'EXISTS', message, 'ringkv certs create: ');
    return EXIT_FAILED;
  }
  const made = generateCerts(options);
  try {
    mkdirSync(out, { recursive: true, mode: 0o700 });
    const write = (name: string, pair: { cert: string; key: string }): void => {
      // 'wx': never replace a file that appeared meanwhile.
      writeFileSync(join(out, `${name}.crt`), pair.cert, { flag: 'wx', mode: 0o644 });
      writeFileSync(join(out, `${name}.key`), pair.key, { flag: 'wx', mode: 0o600 });
    };
    write('ca', made.ca);
    for (const [name, pair] of made.nodes) write(name, pair);
    write(CLIENT_NAME, made.client);
  } catch (e) {
    const message = `cannot write into ${out}: ${(e as Error).message}`;
    reportFailure(opts, 'WRITE_FAILED', message, 'ringkv certs create: ');
    return EXIT_FAILED;
  }
  if (wantsJson(opts)) printJson(written(out, options.nodes, options.hosts, days));
  else process.stdout.write(summary(out, options.nodes, options.hosts, days));
  return 0;
}

/** The --output json document: every file written, by what it is. */
function written(out: string, nodes: readonly string[], hosts: readonly string[], days: number) {
  const pair = (name: string) => ({ cert: join(out, `${name}.crt`), key: join(out, `${name}.key`) });
  return {
    out,
    validDays: days,
    hosts,
    ca: pair('ca'),
    nodes: Object.fromEntries(nodes.map((n) => [n, pair(n)])),
    client: pair(CLIENT_NAME),
  };
}

function summary(out: string, nodes: readonly string[], hosts: readonly string[], days: number): string {
  const first = nodes[0] ?? 'node1';
  const f = (name: string) => join(out, name);
  return [
    `wrote a CA, ${nodes.length} node certificate${nodes.length === 1 ? '' : 's'} and a client certificate into ${out} ` +
      `(valid ${days} days; nodes named ${hosts.join(', ')} and their own name). For development only.`,
    '',
    `  ${f('ca.crt')}          the CA: every node and client trusts it (ca.key signed the others: keep it private)`,
    ...nodes.map(
      (n) => `  ${f(`${n}.crt`)}, ${n}.key   ${n}'s: its client port, raft port, and calls to the others`,
    ),
    `  ${f('client.crt')}, client.key   the CLI's certificate, for nodes with --client_cert_auth`,
    '',
    `A node (${first}), TLS on both ports:`,
    `  ringkv serve --node_id ${first} … \\`,
    `    --cert_file ${f(`${first}.crt`)} --key_file ${f(`${first}.key`)} --trusted_ca_file ${f('ca.crt')} \\`,
    `    --peer_cert_file ${f(`${first}.crt`)} --peer_key_file ${f(`${first}.key`)} --peer_trusted_ca_file ${f('ca.crt')}`,
    '  (add --client_cert_auth=true to refuse clients without a certificate)',
    'A client:',
    `  ringkv get k --cacert ${f('ca.crt')}    (or RINGKV_CACERT; with --client_cert_auth add --cert ${f('client.crt')} --key ${f('client.key')})`,
    '',
  ].join('\n');
}
