// Runs every transcript in testdata/*.txt through the interaction harness and compares the output
// with the expected text. `REWRITE=1 node --test src/raft/scenario.test.ts` regenerates the expected
// outputs on purpose; review the diff (git diff src/raft/testdata) like any code change.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDataDriven, renderDataDriven } from './testing/datadriven.ts';
import { InteractionEnv } from './testing/interaction.ts';

const dir = join(import.meta.dirname, 'testdata');
const rewrite = process.env.REWRITE === '1';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('there are scenario files to run', () => {
  assert.ok(files.length >= 10, `expected at least 10 scenario files in ${dir}, found ${files.length}`);
});

for (const file of files) {
  test(`scenario ${file}`, () => {
    const path = join(dir, file);
    const parsed = parseDataDriven(readFileSync(path, 'utf8'), file);
    assert.ok(parsed.cases.length > 0, `${file} has no commands`);
    const env = new InteractionEnv();
    const outputs: string[] = [];
    const failures: string[] = [];
    for (const c of parsed.cases) {
      const actual = env.handle(c.cmd, c.args);
      outputs.push(actual);
      if (!rewrite && actual !== c.expected) {
        failures.push(`${c.pos}: ${c.commandText}\n--- expected\n${c.expected}\n--- actual\n${actual}`);
      }
    }
    if (rewrite) {
      writeFileSync(path, renderDataDriven(parsed, outputs));
      return;
    }
    // Report the first divergence in full: later ones usually follow from it.
    assert.equal(failures.length, 0, `${failures.length} command(s) differ; first:\n${failures[0] ?? ''}`);
  });
}
