import { readFileSync } from 'node:fs';
import { describeMessage } from './format.ts';
import { Network } from './network.ts';
import { perform } from './schedule.ts';

const [actions, seed, pv, onDemand] = JSON.parse(readFileSync('/tmp/cex.json', 'utf8'));
const config = { electionTick: 4, preVote: pv, checkQuorum: pv };
const net = new Network({ voters: ['1', '2', '3'], seed, config, snapshotOnDemand: onDemand });
net.addEmptyNode('4', config, onDemand);
for (const a of actions) perform(net, a);
const show = (label: string) => {
  console.log(label);
  for (const [id, n] of net.nodes) {
    const s = n.rn.status();
    console.log(
      id,
      s.role,
      'lead',
      s.leader,
      JSON.stringify(s.hardState),
      'last',
      s.lastIndex,
      'applied',
      n.appliedIndex,
      'first',
      n.storage.firstIndex(),
      JSON.stringify(s.confState),
      s.progress ? JSON.stringify([...s.progress]) : '',
    );
  }
};
show('after chaos');
net.queue = [];
net.heal();
if (!pv) {
  const ahead = [...net.nodes.values()].sort((x, y) => y.appliedIndex - x.appliedIndex)[0]!;
  const cs = ahead.rn.status().confState;
  const members = new Set<string>([...cs.voters, ...cs.votersOutgoing, ...cs.learners]);
  net.isolate(...[...net.nodes.keys()].filter((id) => !members.has(id)));
  console.log('isolated non-members of', JSON.stringify(cs));
}
for (let r = 0; r < 80; r++) {
  for (const id of net.nodes.keys()) net.node(id).rn.tick();
  const b = net.readies.length;
  net.stabilize();
  if (r > 70)
    for (const x of net.readies.slice(b)) for (const m of x.rd.messages) console.log(r, describeMessage(m));
}
show('after heal');
