// State machine safety (Raft §5.4.3), as the simulator sees it from outside the nodes: no two
// replicas of a group ever apply different entries at the same index. The first replica seen
// applying index i of a group fixes the term of i (one (index, term) names one entry: log matching);
// every replica applying i later must hold the same term there. A committed entry that is lost and
// replaced (an entry of an earlier term committed by counting replicas, then overwritten: the
// Raft paper's Figure 8) shows here the moment the replacement is applied, even where a snapshot
// would later paper over the difference between the replicas.
import type { GroupView } from '../../node/intents.ts';
import { index } from '../../raft/types.ts';

/** Applied indexes remembered per group: the newest ones (a replica behind by more is checked from there). */
const INDEXES_PER_GROUP_MAX = 20_000;

export class AppliedLog {
  /** Per group, the term of each applied index seen (the newest INDEXES_PER_GROUP_MAX). */
  private readonly terms = new Map<number, Map<number, number>>();
  /** Per hosted group (a replica dropped and hosted again is another view), the highest index checked. */
  private readonly checked = new WeakMap<GroupView, number>();

  /**
   * Checks the entries `view` applied since last seen; returns what broke, or undefined. Entries
   * the replica compacted before it was seen (it restarted from a snapshot) are not checked.
   */
  observe(node: string, view: GroupView): { property: 'stateMachineSafety'; detail: string } | undefined {
    const applied = view.applied;
    const storage = view.storage;
    const from = Math.max((this.checked.get(view) ?? 0) + 1, storage.firstIndex());
    const to = Math.min(applied, storage.lastIndex());
    if (from > to) return undefined;
    let terms = this.terms.get(view.id);
    if (terms === undefined) {
      terms = new Map();
      this.terms.set(view.id, terms);
    }
    for (let i = from; i <= to; i++) {
      const t = storage.term(index(i));
      const known = terms.get(i);
      if (known === undefined) {
        terms.set(i, t);
        terms.delete(i - INDEXES_PER_GROUP_MAX);
      } else if (known !== t) {
        return {
          property: 'stateMachineSafety',
          detail: `${node} applied index ${i} of group ${view.id} with term ${t}, where another replica applied an entry of term ${known}`,
        };
      }
    }
    this.checked.set(view, to);
    return undefined;
  }
}
