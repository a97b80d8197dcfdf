// The metadata group's voters. Every member holds the metadata group (it needs the shard table),
// but a quorum of many voters only costs: each metadata change waits for more acknowledgements, and
// an election for more votes. So the group keeps at most METADATA_VOTERS_MAX voters (etcd's
// recommended cluster sizes stop at 5 too), spread over the zones; the other members are its
// learners. A member joining a group with that many voters becomes a learner (membership.ts), and on
// the metadata leader the rebalancer's round asks `metadataVoterChange` for one change at a time:
//
// 1. fewer voters than the maximum and an up learner that has caught up: promote it (a member
//    left, or was demoted below);
// 2. a voter down or draining and such a learner: promote the learner first (the group briefly
//    has one voter more: it never has fewer up voters than before);
// 3. more voters than the maximum: demote one, down or draining first, else one of a zone holding
//    the most voters (never this node, the leader);
// 4. the voters span fewer zones than they could, and a caught-up learner is in a zone they lack:
//    promote it (then 3. demotes one of a zone that has two).
//
// With at most METADATA_VOTERS_MAX members none of these applies: every member is a voter, as
// before. Pure, so that each rule has a test of its own (metadata-voters.test.ts).
import type { ConfChangeSingle, NodeId } from '../raft/types.ts';
import { METADATA_VOTERS_MAX, type Member } from '../ring/shard-table.ts';

export { METADATA_VOTERS_MAX };

export interface MetadataVotersInput {
  /** The metadata leader (this node): never demoted here. */
  readonly self: string;
  /** The metadata group's applied configuration (not joint: no change is planned while it is). */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** The table's members (states and zones). */
  readonly members: readonly Pick<Member, 'nodeId' | 'state' | 'zone'>[];
  /** Whether a learner's log is close enough to the leader's to be promoted. */
  readonly caughtUp: (nodeId: string) => boolean;
  readonly max?: number;
}

/** The one change to make now, with why (for the log); undefined: the voters are as wanted. */
export function metadataVoterChange(
  i: MetadataVotersInput,
): { readonly change: ConfChangeSingle; readonly why: string } | undefined {
  const max = i.max ?? METADATA_VOTERS_MAX;
  const byId = new Map(i.members.map((m) => [m.nodeId, m]));
  const state = (id: string) => byId.get(id)?.state;
  const zoneOf = (id: string) => zoneKey(byId.get(id)?.zone ?? '', id);
  const voterZones = new Set(i.voters.map(zoneOf));
  const candidates = i.learners
    .filter((id) => state(id) === 'up' && i.caughtUp(id))
    .sort((a, b) => Number(voterZones.has(zoneOf(a))) - Number(voterZones.has(zoneOf(b))) || cmp(a, b));
  const weak = i.voters.filter((id) => {
    const s = state(id);
    return s === 'down' || s === 'draining' || s === 'removed' || s === undefined;
  });
  const promote = (id: string, why: string) => ({
    change: { type: 'addVoter', nodeId: id as NodeId } as ConfChangeSingle,
    why,
  });
  const best = candidates[0];
  if (best !== undefined && i.voters.length < max)
    return promote(best, `the metadata group has ${i.voters.length} voters, fewer than ${max}`);
  if (best !== undefined && weak.length > 0 && i.voters.length <= max)
    return promote(best, `voter ${weak[0]} is ${state(weak[0] as string) ?? 'not a member'}`);
  if (i.voters.length > max) {
    const victim = demotionOf(i, weak, zoneOf);
    if (victim !== undefined) {
      return {
        change: { type: 'addLearner', nodeId: victim as NodeId },
        why: `the metadata group has ${i.voters.length} voters, more than ${max}`,
      };
    }
    return undefined;
  }
  const upZones = new Set(i.members.filter((m) => m.state === 'up').map((m) => zoneKey(m.zone, m.nodeId)));
  if (best !== undefined && !voterZones.has(zoneOf(best)) && voterZones.size < Math.min(max, upZones.size))
    return promote(
      best,
      `the metadata voters span ${voterZones.size} zones; ${best}'s zone is not among them`,
    );
  return undefined;
}

/** The voter to demote: down or draining first, else one of a zone with the most voters (not self). */
function demotionOf(
  i: MetadataVotersInput,
  weak: readonly string[],
  zoneOf: (id: string) => string,
): string | undefined {
  const others = (ids: readonly string[]) => ids.filter((id) => id !== i.self).sort(cmp);
  const w = others(weak)[0];
  if (w !== undefined) return w;
  const perZone = new Map<string, number>();
  for (const id of i.voters) perZone.set(zoneOf(id), (perZone.get(zoneOf(id)) ?? 0) + 1);
  const crowded = Math.max(...perZone.values());
  // The last in id order among the most crowded zone's voters: deterministic across leaders.
  return others(i.voters.filter((id) => perZone.get(zoneOf(id)) === crowded)).at(-1);
}

/** A member without a zone is a zone of its own. */
function zoneKey(zone: string, nodeId: string): string {
  return zone === '' ? `node:${nodeId}` : `zone:${zone}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
