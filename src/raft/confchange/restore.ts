// Rebuilds a tracker configuration from a ConfState (at start-up or from a snapshot) by replaying
// it as a sequence of changes through the Changer, so the same invariants are checked.

import { ProgressTracker } from '../tracker/tracker.ts';
import type { ConfChangeSingle, ConfState, Index } from '../types.ts';
import { type ChangeResult, Changer } from './changer.ts';

export function restoreConfState(template: ProgressTracker, cs: ConfState, lastIndex: Index): ChangeResult {
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((id) => ({ type: 'addVoter', nodeId: id }));
  const incoming: ConfChangeSingle[] = [
    // Removing then re-adding an outgoing voter is a no-op for the ones that stay.
    ...cs.votersOutgoing.map((id): ConfChangeSingle => ({ type: 'removeNode', nodeId: id })),
    ...cs.voters.map((id): ConfChangeSingle => ({ type: 'addVoter', nodeId: id })),
    ...cs.learners.map((id): ConfChangeSingle => ({ type: 'addLearner', nodeId: id })),
    // learnersNext are voters of the outgoing half being demoted.
    ...cs.learnersNext.map((id): ConfChangeSingle => ({ type: 'addLearner', nodeId: id })),
  ];
  const scratch = new ProgressTracker(template.maxInflightMsgs, template.maxInflightBytes);
  const step = (r: ChangeResult): void => scratch.install(r.config, r.progress);
  if (outgoing.length === 0) {
    for (const c of incoming) step(new Changer(scratch, lastIndex).simple([c]));
  } else {
    // Build the outgoing half first, as if it were the active config, then enter the joint
    // config with the incoming changes: (1 2 3)&(2 3 4) is built as (2 3 4) then joint.
    for (const c of outgoing) step(new Changer(scratch, lastIndex).simple([c]));
    step(new Changer(scratch, lastIndex).enterJoint(cs.autoLeave, incoming));
  }
  return { config: scratch.config, progress: scratch.progress };
}
