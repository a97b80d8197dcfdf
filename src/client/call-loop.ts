// The attempt loop shared by every client call: pick a target (the shard's leader when known, a
// fresh leader hint, or any endpoint), wait (bounded) for a connection to it, send, learn from the
// answer, and on failure follow the retry policy with backoff until the caller's deadline. Bounded
// in attempts and in time.
//
// One hung node must not hold a call until its deadline. A node that is stopped (SIGSTOP), stuck
// or cut off mid-path accepts TCP connections (the kernel does) but never answers, so every
// attempt has a budget shorter than the call's deadline: attemptBudgetMs, a third of the call's
// timeout and at most ATTEMPT_BUDGET_MS_MAX, doubling after each attempt that used it all up (so
// that a read which is merely slow still gets the time it needs). What the budget bounds depends
// on whether a retry can be safe (retry-policy.ts):
// - the wait for a connection, for every call: nothing is sent before the channel is ready, so a
//   node that does not complete the HTTP/2 handshake in time is passed over even by a write;
// - the wait for the answer, for reads only: a read sent to a hung node is asked again elsewhere.
//   A write or a membership change that was sent keeps the call's whole deadline, since giving up
//   on it early could only turn a possible success into an indeterminate outcome.
// An endpoint that used up a budget or let a deadline pass is passed over for SUSPECT_FOR_MS.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { type BackoffPolicy, backoffDelayMs, sleep } from './backoff.ts';
import { awaitConnection, type ChannelPool, type EndpointStubs } from './channels.ts';
import { CancelledError, DeadlineExceededError, type RingkvError, UnavailableError } from './errors.ts';
import { decideAfterFailure, type Safety, shortConnectError } from './retry-policy.ts';
import { RpcFailure } from './rpc.ts';
import type { Topology } from './topology.ts';

/** Bound on attempts of one call, whatever the deadline (each attempt waits at least a backoff). */
export const ATTEMPTS_MAX = 200;
/** Shortest remaining time worth starting an attempt with. */
export const ATTEMPT_MS_MIN = 50;
/** Leader hints followed in a row without a backoff (hints may point in a circle during elections). */
const HINT_HOPS_MAX = 3;
/** How long an endpoint that refused a connection is passed over when another one is available. */
const DOWN_FOR_MS = 500;
/**
 * Most time the first attempt of a call may wait for a connection (and a read for its answer)
 * before the next endpoint is tried. A healthy node on a LAN connects and answers within a few
 * milliseconds, and a new TCP + HTTP/2 handshake takes two round trips, so a second leaves room
 * for slow links while keeping the cost of a hung node in front of a 5 s call to a fifth of it.
 */
export const ATTEMPT_BUDGET_MS_MAX = 1000;
/** The first attempt's budget is at most this share of the call's timeout (so short calls still get retries). */
const ATTEMPT_BUDGET_SHARE = 1 / 3;
/** How long an endpoint that did not connect or answer within a budget is passed over. */
const SUSPECT_FOR_MS = 5000;

export interface CallSpec<Res> {
  /** For messages, e.g. "put \"k\"". */
  readonly operation: string;
  readonly safety: Safety;
  /** The data shard of the key, when the request concerns one key and the shard count is known. */
  readonly shardId: () => number | undefined;
  /** Send to exactly this endpoint (no failover). */
  readonly endpoint?: string;
  readonly send: (stubs: EndpointStubs, deadlineMs: number, signal: AbortSignal | undefined) => Promise<Res>;
  /** Called with every successful answer (to learn leaders from its header). */
  readonly learn: (response: Res) => void;
}

export interface LoopContext {
  readonly pool: ChannelPool;
  readonly topology: Topology;
  readonly backoff: BackoffPolicy;
  readonly random: () => number;
  /** Give up early once every endpoint has refused connections for this long (undefined: never). */
  readonly unreachableGiveUpMs: number | undefined;
  /** Route to shard leaders (true) or only to the configured endpoints (false). */
  readonly routeToLeaders: boolean;
  /** Asks for a background Status refresh (leaders unknown or stale). */
  readonly requestRefresh: () => void;
  /** One line per attempt (RingkvClientOptions.trace), or undefined. */
  readonly trace: ((line: string) => void) | undefined;
}

type TargetReason =
  | 'the only endpoint'
  | 'leader hint'
  | 'shard leader'
  | 'configured endpoint'
  | 'any endpoint (leader unknown)';

interface LoopState {
  backoffs: number;
  /** Attempts that used up their budget (each doubles the next budget). */
  budgetsSpent: number;
  hintHops: number;
  hint: string | undefined;
  lastTarget: string | undefined;
  /** Why lastTarget was chosen (pickTarget), for the trace. */
  why: TargetReason;
  lastFailure: RpcFailure | undefined;
  readonly tried: Set<string>;
  readonly unreachable: Set<string>;
  firstUnreachableMs: number | undefined;
}

export async function runCall<Res>(
  ctx: LoopContext,
  spec: CallSpec<Res>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  deadlineMs: number = Date.now() + timeoutMs,
): Promise<Res> {
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
  const st: LoopState = {
    backoffs: 0,
    budgetsSpent: 0,
    hintHops: 0,
    hint: undefined,
    lastTarget: undefined,
    why: 'the only endpoint',
    lastFailure: undefined,
    tried: new Set(),
    unreachable: new Set(),
    firstUnreachableMs: undefined,
  };
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    if (signal?.aborted === true) throw new CancelledError(`${spec.operation} was cancelled by the caller`);
    if (Date.now() >= deadlineMs) throw outOfTime(spec, st, timeoutMs);
    const target = pickTarget(ctx, spec, st);
    st.lastTarget = target;
    st.tried.add(target);
    const startMs = Date.now();
    const budgetEndMs = Math.min(deadlineMs, startMs + attemptBudgetMs(timeoutMs, st.budgetsSpent));
    try {
      const response = await sendAttempt(ctx, spec, target, budgetEndMs, deadlineMs, signal);
      if (ctx.trace !== undefined)
        traceAttempt(ctx.trace, spec, st, attempt, startMs, budgetEndMs, 'answered');
      ctx.topology.markUp(target);
      spec.learn(response);
      return response;
    } catch (e) {
      if (ctx.trace !== undefined)
        traceAttempt(
          ctx.trace,
          spec,
          st,
          attempt,
          startMs,
          budgetEndMs,
          e instanceof Error ? e.message : String(e),
        );
      if (!(e instanceof RpcFailure)) throw e;
      // Only a read is sent with the budget as its deadline (sendAttempt).
      const cut =
        spec.safety === 'read' && e.grpcCode === GrpcStatus.DEADLINE_EXCEEDED && budgetEndMs < deadlineMs;
      const budgetSpent = cut || e.connectTimedOut;
      if (budgetSpent) st.budgetsSpent++;
      const delayMs = afterFailure(ctx, spec, st, e, target, cut);
      const giveUp = unreachableGiveUp(ctx, spec, st);
      if (giveUp !== undefined) throw giveUp;
      // No time left for another attempt after the backoff: give up now rather than send one
      // with a deadline too short to succeed (which would make a write indeterminate).
      if (delayMs + attemptMsMin(timeoutMs) > deadlineMs - Date.now()) throw outOfTime(spec, st, timeoutMs);
      if (delayMs > 0) ctx.trace?.(`${spec.operation}: backing off ${Math.round(delayMs)} ms`);
      await sleep(delayMs, signal);
    }
  }
  throw outOfTime(spec, st, timeoutMs);
}

/**
 * One attempt: wait for a connection until `budgetEndMs` (nothing is sent meanwhile), then send
 * with the budget as deadline for a read, or with the call's deadline for anything else (see the
 * header). Rejects with RpcFailure only (or CancelledError when aborted before anything was sent).
 */
async function sendAttempt<Res>(
  ctx: LoopContext,
  spec: CallSpec<Res>,
  target: string,
  budgetEndMs: number,
  deadlineMs: number,
  signal: AbortSignal | undefined,
): Promise<Res> {
  const stubs = ctx.pool.get(target);
  const startMs = Date.now();
  if (!(await awaitConnection(stubs.channel, budgetEndMs, signal))) {
    throw RpcFailure.notConnected(target, Date.now() - startMs);
  }
  if (signal?.aborted === true) throw new CancelledError(`${spec.operation} was cancelled by the caller`);
  return spec.send(stubs, spec.safety === 'read' ? budgetEndMs : deadlineMs, signal);
}

/**
 * Budget of an attempt (see the header): a third of the call's timeout, at most
 * ATTEMPT_BUDGET_MS_MAX, doubled for each earlier attempt that used its budget up.
 */
export function attemptBudgetMs(timeoutMs: number, budgetsSpent: number): number {
  const first = Math.min(timeoutMs * ATTEMPT_BUDGET_SHARE, ATTEMPT_BUDGET_MS_MAX);
  return first * 2 ** Math.min(budgetsSpent, 16);
}

/**
 * Shortest remaining time worth starting another attempt with: a tenth of the call's timeout
 * (between ATTEMPT_MS_MIN and 500 ms). A last attempt with only a few milliseconds left tends to
 * end in the client's own DEADLINE_EXCEEDED, which turns a write that certainly did not happen
 * (the server's retry-safe UNAVAILABLE) into an indeterminate one.
 */
function attemptMsMin(timeoutMs: number): number {
  return Math.max(ATTEMPT_MS_MIN, Math.min(500, timeoutMs * 0.1));
}

/** The next attempt's endpoint; records in `st.why` why it was chosen (for the trace). */
function pickTarget<Res>(ctx: LoopContext, spec: CallSpec<Res>, st: LoopState): string {
  if (spec.endpoint !== undefined) {
    st.why = 'the only endpoint';
    return spec.endpoint;
  }
  const now = Date.now();
  if (st.hint !== undefined && ctx.routeToLeaders) {
    const hint = st.hint;
    st.hint = undefined;
    st.why = 'leader hint';
    return hint;
  }
  const shardId = spec.shardId();
  if (ctx.routeToLeaders && shardId !== undefined) {
    const leader = ctx.topology.leaderOf(shardId);
    if (leader !== undefined && !ctx.topology.isDown(leader, now)) {
      st.why = 'shard leader';
      return leader;
    }
  }
  if (!ctx.routeToLeaders) {
    st.why = 'configured endpoint';
    return pickSeed(ctx, st, now);
  }
  st.why = 'any endpoint (leader unknown)';
  return ctx.topology.pickAny(now, st.lastFailure === undefined ? undefined : st.lastTarget);
}

/** One trace line for an attempt that ended with `outcome` (only when tracing: off the hot path). */
function traceAttempt<Res>(
  trace: (line: string) => void,
  spec: CallSpec<Res>,
  st: LoopState,
  attempt: number,
  startMs: number,
  budgetEndMs: number,
  outcome: string,
): void {
  const why = st.why === 'shard leader' ? `leader of shard ${spec.shardId()}` : st.why;
  trace(
    `${spec.operation}: attempt ${attempt + 1} to ${st.lastTarget} (${why}, budget ${budgetEndMs - startMs} ms): ` +
      `${outcome} after ${Date.now() - startMs} ms`,
  );
}

/** With leader routing off: the configured endpoints only, moving on after a failure. */
function pickSeed(ctx: LoopContext, st: LoopState, now: number): string {
  const seeds = ctx.topology.seeds;
  const start = st.lastTarget === undefined ? 0 : seeds.indexOf(st.lastTarget) + (st.lastFailure ? 1 : 0);
  for (let i = 0; i < seeds.length; i++) {
    const s = seeds[(start + i) % seeds.length]!;
    if (!ctx.topology.isDown(s, now)) return s;
  }
  return seeds[start % seeds.length]!;
}

/** Applies the retry policy; returns the delay before the next attempt, or throws. */
function afterFailure<Res>(
  ctx: LoopContext,
  spec: CallSpec<Res>,
  st: LoopState,
  f: RpcFailure,
  target: string,
  cut: boolean,
): number {
  st.lastFailure = f;
  const now = Date.now();
  const timedOut = f.grpcCode === GrpcStatus.DEADLINE_EXCEEDED || f.connectTimedOut;
  // Passed over by the next calls too, whatever becomes of this one.
  if (timedOut) ctx.topology.markDown(target, now + SUSPECT_FOR_MS);
  const decision = decideAfterFailure(f, spec.safety, spec.operation, cut);
  if (decision.action === 'throw') throw decision.error;
  const shardId = spec.shardId();
  if (decision.unreachable) {
    st.unreachable.add(target);
    st.firstUnreachableMs ??= now;
    if (!timedOut) ctx.topology.markDown(target, now + DOWN_FOR_MS);
  } else {
    st.firstUnreachableMs = undefined;
    st.unreachable.clear();
  }
  if (shardId !== undefined) ctx.topology.forgetLeader(shardId, target);
  // Routed by an older table: the node named where the shard is now (its leader, or a voter, is the
  // hint), and other shards may have moved too: the whole table is read again in the background.
  if (f.staleRoute !== undefined) {
    ctx.topology.learnEpoch(f.staleRoute.shard, f.staleRoute.epoch);
    ctx.requestRefresh();
  }
  if (f.leaderHint !== undefined && f.leaderHint !== target && shardId !== undefined) {
    ctx.topology.learnLeader(shardId, f.leaderHint);
  }
  if (f.leaderHint !== undefined && f.leaderHint !== target && st.hintHops < HINT_HOPS_MAX) {
    st.hintHops++;
    st.hint = f.leaderHint;
    return 0;
  }
  if (f.leaderHint === undefined) ctx.requestRefresh();
  // Another endpoint that has not failed yet is worth trying at once.
  const untried = spec.endpoint === undefined && ctx.topology.candidates().some((c) => !st.tried.has(c));
  if ((decision.unreachable || decision.slow === true) && untried) return 0;
  st.hintHops = 0;
  return backoffDelayMs(ctx.backoff, st.backoffs++, ctx.random);
}

function unreachableGiveUp<Res>(
  ctx: LoopContext,
  spec: CallSpec<Res>,
  st: LoopState,
): RingkvError | undefined {
  if (ctx.unreachableGiveUpMs === undefined || st.firstUnreachableMs === undefined) return undefined;
  if (Date.now() - st.firstUnreachableMs < ctx.unreachableGiveUpMs) return undefined;
  const all = spec.endpoint === undefined ? ctx.topology.candidates() : [spec.endpoint];
  if (!all.every((c) => st.unreachable.has(c))) return undefined;
  return unreachableError(all, st.lastFailure);
}

function unreachableError(endpoints: readonly string[], last: RpcFailure | undefined): UnavailableError {
  const why = last === undefined ? '' : ` (${shortConnectError(last.details)})`;
  return new UnavailableError(`cannot reach any of ${endpoints.join(', ')}${why}`, 'unreachable', endpoints, {
    ...(last === undefined ? {} : { cause: last, endpoint: last.endpoint, grpcCode: last.codeName }),
  });
}

/** The deadline passed between attempts; the last failure was a retryable one (so nothing happened). */
function outOfTime<Res>(spec: CallSpec<Res>, st: LoopState, timeoutMs: number): RingkvError {
  const last = st.lastFailure;
  if (last === undefined) {
    return new DeadlineExceededError(
      `${spec.operation}: deadline of ${timeoutMs} ms passed before it could be sent`,
    );
  }
  if (last.notSent && [...st.tried].every((t) => st.unreachable.has(t))) {
    return unreachableError([...st.tried], last);
  }
  if (last.grpcCode === GrpcStatus.DEADLINE_EXCEEDED) {
    // Reads only (a write's DEADLINE_EXCEEDED is thrown as indeterminate by the policy).
    return new DeadlineExceededError(
      `${spec.operation}: no answer within ${timeoutMs} ms from ${[...st.tried].join(', ')} (last: ${last.details})`,
      { cause: last, endpoint: last.endpoint, grpcCode: last.codeName },
    );
  }
  return new UnavailableError(
    `${spec.operation}: not served within ${timeoutMs} ms (last: ${last.codeName} from ${last.endpoint}: ${last.details})`,
    'no-quorum',
    [...st.tried],
    { cause: last, endpoint: last.endpoint, grpcCode: last.codeName },
  );
}
