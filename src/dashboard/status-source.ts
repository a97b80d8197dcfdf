// Where /api/status comes from: every member's Status, asked through the client as `ringkv cluster
// status` asks it (statusOfEveryMember: the members at once, each within MEMBER_TIMEOUT_MS, so a
// killed or hung member shows as down after at most that), turned into the dashboard's status.
//
// Bounded: one fan-out at a time (requests that arrive meanwhile share it), and an answer younger
// than FRESH_MS is reused, so any number of open pages cost the cluster at most one Status per
// member every FRESH_MS. The rates of each member need its previous sample: one per member listed
// (MEMBERS_SHOWN_MAX at most), dropped when it leaves the list.
import assert from 'node:assert/strict';
import type { MemberStatus, RequestLoad, StatusResponse } from '../client/index.ts';
import { INTERVAL_MS_MIN, type LoadRates, loadRates } from './load-rates.ts';
import { type DashboardStatus, dashboardStatus, MEMBERS_SHOWN_MAX } from './status.ts';

/** A member that has not answered its Status within this is shown down. */
export const MEMBER_TIMEOUT_MS = 1000;
/** The whole fan-out's bound (the member list is asked first, then the members). */
export const FAN_OUT_TIMEOUT_MS = 2500;
/** An answer this recent is reused rather than asked again. */
export const FRESH_MS = 500;

/** What the source needs of the client (RingkvClient has it). */
export interface StatusFanOut {
  statusOfEveryMember(opts: {
    readonly timeoutMs: number;
    readonly memberTimeoutMs: number;
  }): Promise<{ cluster: StatusResponse; members: MemberStatus[] }>;
}

/** One member's rate baseline. Invariant: `rates`, when set, were computed up to `baseline`. */
interface Sampled {
  baseline: RequestLoad;
  rates: LoadRates | null;
}

export class StatusSource {
  private readonly fanOut: StatusFanOut;
  private readonly servedBy: string;
  private readonly nowMs: () => number;
  /** The fan-out in flight; at most one. */
  private pending: Promise<DashboardStatus> | undefined;
  private last: { readonly status: DashboardStatus; readonly atMs: number } | undefined;
  /** Per member listed (at most MEMBERS_SHOWN_MAX). */
  private readonly samples = new Map<string, Sampled>();

  constructor(fanOut: StatusFanOut, servedBy: string, nowMs: () => number = Date.now) {
    this.fanOut = fanOut;
    this.servedBy = servedBy;
    this.nowMs = nowMs;
  }

  /** The cluster's status now (or at most FRESH_MS ago). Rejects when no member answered at all. */
  current(): Promise<DashboardStatus> {
    const last = this.last;
    if (last !== undefined && this.nowMs() - last.atMs < FRESH_MS) return Promise.resolve(last.status);
    this.pending ??= this.gather().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async gather(): Promise<DashboardStatus> {
    const { cluster, members } = await this.fanOut.statusOfEveryMember({
      timeoutMs: FAN_OUT_TIMEOUT_MS,
      memberTimeoutMs: MEMBER_TIMEOUT_MS,
    });
    const rates = this.sample(members.slice(0, MEMBERS_SHOWN_MAX));
    const atMs = this.nowMs();
    const status = dashboardStatus(this.servedBy, cluster, members, rates, atMs);
    this.last = { status, atMs };
    return status;
  }

  /** Each answering member's rates since its baseline, moving the baseline on when the interval is long enough. */
  private sample(members: readonly MemberStatus[]): Map<string, LoadRates> {
    const listed = new Set(members.map((m) => m.member.nodeId));
    for (const id of this.samples.keys()) if (!listed.has(id)) this.samples.delete(id);
    const rates = new Map<string, LoadRates>();
    for (const m of members) {
      const load = 'status' in m ? m.status.load : undefined;
      if (load === undefined) continue;
      const id = m.member.nodeId;
      const s = this.samples.get(id);
      if (s === undefined || load.uptimeMs < s.baseline.uptimeMs) {
        this.samples.set(id, { baseline: load, rates: null }); // first seen, or restarted
      } else if (load.uptimeMs - s.baseline.uptimeMs >= BigInt(INTERVAL_MS_MIN)) {
        s.rates = loadRates(s.baseline, load);
        s.baseline = load;
      }
      const r = this.samples.get(id)?.rates;
      if (r !== undefined && r !== null) rates.set(id, r);
    }
    assert.ok(
      this.samples.size <= members.length && members.length <= MEMBERS_SHOWN_MAX,
      `a sample per member listed: ${this.samples.size} samples, ${members.length} members`,
    );
    return rates;
  }
}
