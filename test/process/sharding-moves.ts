// Watches the moves of the sharding scenario from the shard table (Status.placement's `move`): a
// poll every `intervalMs` of the first live node that answers; a move is seen from the first poll
// that shows it to the first that does not, so each duration is accurate to about one interval plus
// a Status call. Each move is counted in the phase current when it was first seen.
import type { StatusResponse } from '../../src/client/index.ts';

export interface SeenMove {
  readonly phase: string;
  readonly shardId: number;
  readonly source: string;
  readonly target: string;
  readonly firstSeenMs: number;
  /** Undefined while the move is still in the table. */
  lastSeenMs: number | undefined;
  /** Steps seen, in order, each once (rollBack among them: the move was undone). */
  readonly steps: string[];
}

/** Bound on the moves kept (a scenario of 32 shards makes about 60). */
const MOVES_KEPT_MAX = 10_000;

export class MoveWatcher {
  phase = 'start';
  readonly moves: SeenMove[] = [];
  /** Polls that no node answered. */
  missedPolls = 0;
  private readonly open = new Map<string, SeenMove>();
  private running = false;
  private loop: Promise<void> | undefined;

  /** The Status of some live node, or undefined. */
  private readonly statusOfAny: () => Promise<StatusResponse | undefined>;

  constructor(statusOfAny: () => Promise<StatusResponse | undefined>) {
    this.statusOfAny = statusOfAny;
  }

  start(intervalMs = 200): void {
    if (this.loop !== undefined) throw new Error('the move watcher already runs');
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        const s = await this.statusOfAny();
        if (s === undefined) this.missedPolls++;
        else this.observe(s, performance.now());
        await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - t0))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Moves first seen in `phase`. */
  of(phase: string): SeenMove[] {
    return this.moves.filter((m) => m.phase === phase);
  }

  private observe(s: StatusResponse, nowMs: number): void {
    const current = new Set<string>();
    for (const p of s.placement) {
      if (p.move === undefined) continue;
      const key = `${p.shardId}:${p.move.source}>${p.move.target}`;
      current.add(key);
      let m = this.open.get(key);
      if (m === undefined) {
        if (this.moves.length >= MOVES_KEPT_MAX) throw new Error(`more than ${MOVES_KEPT_MAX} moves seen`);
        m = {
          phase: this.phase,
          shardId: p.shardId,
          source: p.move.source,
          target: p.move.target,
          firstSeenMs: nowMs,
          lastSeenMs: undefined,
          steps: [],
        };
        this.open.set(key, m);
        this.moves.push(m);
      }
      if (m.steps.at(-1) !== p.move.step) m.steps.push(p.move.step);
    }
    for (const [key, m] of this.open)
      if (!current.has(key)) {
        m.lastSeenMs = nowMs;
        this.open.delete(key);
      }
  }
}
