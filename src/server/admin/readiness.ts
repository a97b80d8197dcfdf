// Whether this node is ready to serve (the admin port's /readyz): a pure function of its groups'
// statuses, so that a test hands it statuses and reads the checks. Ready when it knows a leader of
// the metadata group, every group it holds has a leader, and it has applied what it knows committed
// (within APPLY_LAG_MAX_ENTRIES: a busy node applies a turn's entries a moment after they commit).
// `ringkv cluster health` asks the same of Status (leaders only); this is the node's own answer.
import type { GroupStatus } from '../../node/intents.ts';

/** One named check, as Kubernetes' /readyz?verbose lists them. */
export interface ReadinessCheck {
  readonly name: 'metadata-leader' | 'shard-leaders' | 'caught-up';
  readonly ok: boolean;
  /** Why it failed ('' when ok). */
  readonly reason: string;
}

/** Committed entries a group may have left to apply and still count as caught up. */
export const APPLY_LAG_MAX_ENTRIES = 1000;
/** Groups named in a failed check's reason; the rest are counted. */
const NAMED_MAX = 8;

export type ReadinessStatus = Pick<GroupStatus, 'id' | 'leader' | 'commit' | 'applied'>;

/** The checks, in a fixed order, from every hosted group's status (group 0 is the metadata group). */
export function readinessChecks(statuses: readonly ReadinessStatus[]): ReadinessCheck[] {
  const metadata = statuses.find((s) => s.id === 0);
  const leaderless = statuses.filter((s) => s.id !== 0 && s.leader === '').map((s) => s.id);
  const behind = statuses.filter((s) => s.commit - s.applied > APPLY_LAG_MAX_ENTRIES);
  return [
    {
      name: 'metadata-leader',
      ok: metadata !== undefined && metadata.leader !== '',
      reason:
        metadata === undefined
          ? 'this node holds no replica of the metadata group (yet)'
          : metadata.leader === ''
            ? 'no leader of the metadata group is known'
            : '',
    },
    {
      name: 'shard-leaders',
      ok: leaderless.length === 0,
      reason: leaderless.length === 0 ? '' : `no leader known for ${listed('shard', leaderless)}`,
    },
    {
      name: 'caught-up',
      ok: behind.length === 0,
      reason:
        behind.length === 0
          ? ''
          : `more than ${APPLY_LAG_MAX_ENTRIES} committed entries not yet applied in ${listed(
              'group',
              behind.map((s) => s.id),
            )} (${behind
              .slice(0, NAMED_MAX)
              .map((s) => `${s.id}: applied ${s.applied} of ${s.commit}`)
              .join(', ')})`,
    },
  ];
}

/** `shard 3` or `shards 1, 2 and 5 more`. */
function listed(what: string, ids: readonly number[]): string {
  const named = ids.slice(0, NAMED_MAX).join(', ');
  const more = ids.length > NAMED_MAX ? ` and ${ids.length - NAMED_MAX} more` : '';
  return `${what}${ids.length === 1 ? '' : 's'} ${named}${more}`;
}

/**
 * The body of /readyz or /livez in Kubernetes' format: with `verbose`, one line per check
 * (`[+]name ok`, `[-]name failed: reason`); without, only the failed ones; then the verdict line.
 */
export function describeChecks(
  endpoint: 'livez' | 'readyz',
  checks: readonly { readonly name: string; readonly ok: boolean; readonly reason: string }[],
  verbose: boolean,
): { readonly ok: boolean; readonly body: string } {
  const ok = checks.every((c) => c.ok);
  const lines = checks
    .filter((c) => verbose || !c.ok)
    .map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason}`));
  if (!verbose && ok) return { ok, body: 'ok\n' };
  lines.push(`${endpoint} check ${ok ? 'passed' : 'failed'}`);
  return { ok, body: `${lines.join('\n')}\n` };
}
