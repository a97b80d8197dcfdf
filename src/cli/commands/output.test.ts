// Every command that talks to a cluster, and certs create, takes --output json. Read off the
// commands as registered, so a new command without it fails here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerClientCommands } from './register-client.ts';

/**
 * Commands without --output json, and why. start-local runs three nodes until Ctrl+C and prints
 * their addresses for a person; the nodes it starts answer `cluster status --output json`.
 */
const WITHOUT_JSON = new Map([['start-local', 'a launcher that runs until stopped']]);

function leaves(cmd: Command, path: string[] = []): { path: string; cmd: Command }[] {
  if (cmd.commands.length === 0) return [{ path: path.join(' '), cmd }];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

test('every client command, and certs create, accepts --output json', () => {
  const program = new Command();
  registerClientCommands(program);
  const all = leaves(program);
  assert.ok(all.length >= 16, `found only ${all.map((l) => l.path).join(', ')}`);
  const missing = all
    .filter((l) => !WITHOUT_JSON.has(l.path))
    .filter((l) => !l.cmd.options.some((o) => o.long === '--output' && (o.argChoices ?? []).includes('json')))
    .map((l) => l.path);
  assert.deepEqual(missing, []);
  for (const name of WITHOUT_JSON.keys())
    assert.ok(
      all.some((l) => l.path === name),
      `${name} is gone`,
    );
});
