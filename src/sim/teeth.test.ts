// The simulator has teeth: with each planted bug switched on, it finds a violation within a bounded
// number of seeds (and reports the property the bug breaks). A simulator that passes everything
// would pass these bugs too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BugName, PLANTED_BUGS } from './bugs.ts';
import { runSeed } from './run.ts';
import type { Property } from './violation.ts';

/** Seeds tried per bug before the test fails. */
const SEEDS_MAX = 200;

/** The properties each bug may legitimately be caught by. */
const EXPECTED: Record<BugName, readonly Property[]> = {
  commitPreviousTermByCount: ['leaderCompleteness', 'stateMachineSafety', 'logMatching', 'linearizability'],
  voteTwiceInTerm: ['hardStateRegression', 'electionSafety', 'leaderCompleteness', 'stateMachineSafety'],
  skipLogUpToDateCheck: ['leaderCompleteness', 'stateMachineSafety', 'logMatching', 'linearizability'],
  countOwnAppendEarly: ['durability'],
  ackBeforeSync: ['durability', 'leaderCompleteness', 'stateMachineSafety', 'electionSafety'],
  forgetVoteOnRestart: ['hardStateRegression', 'electionSafety', 'leaderCompleteness'],
  staleLocalReads: ['linearizability'],
};

for (const bug of PLANTED_BUGS) {
  test(`planted bug ${bug.name} is found within ${SEEDS_MAX} seeds`, () => {
    for (let seed = 1; seed <= SEEDS_MAX; seed++) {
      const r = runSeed(seed, { steps: 3000, bug: bug.name });
      const v = r.violations[0];
      if (v === undefined) continue;
      assert.ok(
        EXPECTED[bug.name].includes(v.property),
        `seed ${seed}: ${bug.name} was caught as ${v.property} (${v.detail}), expected one of ${EXPECTED[bug.name]}`,
      );
      return;
    }
    assert.fail(`no violation found in ${SEEDS_MAX} seeds with ${bug.name} planted`);
  });
}

test('without a planted bug, the seeds that catch each bug pass', () => {
  for (const seed of [1, 2, 3, 5]) {
    assert.deepEqual(runSeed(seed, { steps: 3000 }).violations, [], `seed ${seed}`);
  }
});
