// client.watch(): the changes of a key (one stream, to its shard) or of a prefix (one stream per
// shard, since a prefix spans every shard), merged into one AsyncIterable. Each shard's stream
// remembers the last position it delivered (an event's index, or a progress); when a stream fails
// for any reason but a final one (the node killed, its replica moved, a slow-reader cut, a refused
// endpoint), it is opened again from that position + 1 on another endpoint (the refusal's hint
// first), after a backoff. A response at or below the last position is dropped, so nothing is
// delivered twice, and the server sends every change from the position asked on, so nothing is
// skipped. A start one replica no longer keeps (OUT_OF_RANGE) is asked of the other endpoints: the
// replicas of a shard take their snapshots at different times, and one that nobody watched keeps no
// recent changes apart from its log since its snapshot. Only when every endpoint refused it so (or
// after twice as many tries as there are endpoints) does the iteration end with WatchCompactedError
// naming the oldest position any of them offered; bad input ends it at once. Leaving the loop (break, return, throw) cancels every stream.
import { type ClientReadableStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { WatchResponse } from '../gen/ringkv/v1/kv.ts';
import { WatchEvent_Type } from '../gen/ringkv/v1/kv.ts';
import { backoffDelayMs } from './backoff.ts';
import type { EndpointStubs } from './channels.ts';
import { InvalidArgumentError, RingkvError } from './errors.ts';
import { codeName, LEADER_ADDR_TRAILER } from './rpc.ts';

export interface WatchOptions {
  /** Watch every key starting with the given bytes (one stream per shard). */
  readonly prefix?: boolean;
  /**
   * The first position (log index) to deliver: one number for every shard, or a map from shard to
   * its first position (a shard not in the map: changes from now on); default: changes from now on.
   */
  readonly from?: bigint | number | ReadonlyMap<number, bigint | number> | undefined;
  /** Deliver each event's previous value and version. */
  readonly prevKv?: boolean;
  /** Idle time after which the server reports progress (ms; default 1000). */
  readonly progressIntervalMs?: number;
  /** Also yield progress items (`type: 'progress'`): how far a shard has been seen. */
  readonly progress?: boolean;
}

export interface WatchEventItem {
  readonly type: 'put' | 'delete';
  readonly key: Uint8Array;
  /** The value written; empty for a delete. */
  readonly value: Uint8Array;
  /** The log index of the change in its shard (a put's version). */
  readonly position: bigint;
  readonly shard: number;
  /** The id of the node whose replica sent it (the stream moves to another after a failure). */
  readonly node: string;
  /** The previous value and version, when `prevKv` was asked and the key existed. */
  readonly prevKv?: { readonly value: Uint8Array; readonly version: bigint } | undefined;
}

/** Every change of the shard up to `position` was delivered (with `progress: true`). */
export interface WatchProgressItem {
  readonly type: 'progress';
  readonly position: bigint;
  readonly shard: number;
  /** The id of the node whose replica sent it. */
  readonly node: string;
}

export type WatchItem = WatchEventItem | WatchProgressItem;

/** The watch cannot go on: its start is older than the shard keeps (`oldest` is the oldest it does). */
export class WatchCompactedError extends RingkvError {
  override readonly name = 'WatchCompactedError';
  override readonly code = 'WATCH_COMPACTED';
  readonly shard: number;
  readonly oldest: bigint;
  constructor(message: string, shard: number, oldest: bigint, endpoint: string) {
    super(message, { endpoint, grpcCode: 'OUT_OF_RANGE' });
    this.shard = shard;
    this.oldest = oldest;
  }
}

/** What the watch needs of the client. */
export interface WatchHost {
  /** The endpoints to try, in order of preference; `avoid` last. */
  endpoints(): string[];
  stubs(endpoint: string): EndpointStubs;
  /** The number of data shards (asks the cluster when not known yet). */
  shardCount(): Promise<number>;
  /** The shard of `key` (asks the cluster when not known yet). */
  shardOf(key: Uint8Array): Promise<number>;
  /** Why no stream may be opened any more (the client was closed), or undefined. */
  closed(): Error | undefined;
}

/** Items buffered before the streams are paused until the caller takes them. */
const QUEUE_PAUSE_ITEMS = 1000;
const BACKOFF = { baseMs: 50, maxMs: 2000 };

export function watch(host: WatchHost, key: Uint8Array, opts: WatchOptions): AsyncIterable<WatchItem> {
  if (!opts.prefix && key.byteLength === 0)
    throw new InvalidArgumentError('watch: give a key, or a prefix with { prefix: true }');
  const from = opts.from;
  const starts = from instanceof Map ? [...from.values()] : from === undefined ? [] : [from];
  for (const f of starts) if (BigInt(f) < 0n) throw new InvalidArgumentError(`watch: from ${f} is negative`);
  return {
    [Symbol.asyncIterator]: () => new WatchIterator(host, key, opts),
  };
}

class ShardStream {
  /** The shard, once known (0 for a key's stream until its first response). */
  shard: number;
  /** The last position delivered (-1: none yet, start from `from` or from now). */
  last: bigint;
  call: ClientReadableStream<WatchResponse> | undefined;
  attempts = 0;
  hint: string | undefined;
  turn = 0;
  /** Endpoints that refused the current start as compacted, with the oldest position each keeps. */
  readonly compacted = new Map<string, { oldest: bigint; details: string }>();

  constructor(shard: number, from: bigint) {
    this.shard = shard;
    this.last = from > 0n ? from - 1n : -1n;
  }
}

class WatchIterator implements AsyncIterator<WatchItem> {
  private readonly host: WatchHost;
  private readonly key: Uint8Array;
  private readonly opts: WatchOptions;
  private readonly queue: WatchItem[] = [];
  private readonly streams: ShardStream[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private started = false;
  private paused = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(host: WatchHost, key: Uint8Array, opts: WatchOptions) {
    this.host = host;
    this.key = key;
    this.opts = opts;
  }

  /** The first position asked of `shard` (0n: from now on). */
  private fromOf(shard: number): bigint {
    const f = this.opts.from;
    if (f === undefined) return 0n;
    if (f instanceof Map) return BigInt(f.get(shard) ?? 0n);
    return BigInt(f as bigint | number);
  }

  async next(): Promise<IteratorResult<WatchItem>> {
    if (!this.started) {
      this.started = true;
      try {
        if (this.opts.prefix === true) {
          const shards = await this.host.shardCount();
          for (let s = 1; s <= shards; s++) this.streams.push(new ShardStream(s, this.fromOf(s)));
        } else if (this.opts.from !== undefined) {
          // A start in the past is a position of the key's shard: name it (per-shard starts pick
          // its own, and a compacted start's error says which shard).
          const shard = await this.host.shardOf(this.key);
          this.streams.push(new ShardStream(shard, this.fromOf(shard)));
        } else this.streams.push(new ShardStream(0, this.fromOf(0)));
      } catch (e) {
        this.stop();
        throw e;
      }
      for (const s of this.streams) this.open(s);
    }
    for (;;) {
      const item = this.queue.shift();
      if (item !== undefined) {
        if (this.paused && this.queue.length < QUEUE_PAUSE_ITEMS / 2) this.setPaused(false);
        return { value: item, done: false };
      }
      if (this.failure !== undefined) {
        const f = this.failure;
        this.stop();
        throw f;
      }
      if (this.stopped) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  return(): Promise<IteratorResult<WatchItem>> {
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  private stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.streams) {
      s.call?.cancel();
      s.call = undefined;
    }
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    for (const s of this.streams) {
      if (paused) s.call?.pause();
      else s.call?.resume();
    }
  }

  private pickEndpoint(s: ShardStream): string {
    const h = s.hint;
    s.hint = undefined;
    if (h !== undefined && !s.compacted.has(h)) return h;
    const all = this.host.endpoints();
    let e = all[s.turn++ % all.length];
    for (let i = 1; i < all.length && e !== undefined && s.compacted.has(e); i++)
      e = all[s.turn++ % all.length];
    if (e === undefined) throw new Error('watch: no endpoint');
    return e;
  }

  private open(s: ShardStream): void {
    if (this.stopped) return;
    // A retry timer may fire after client.close(): the watch ends with the refusal (its channel
    // pool would throw from a timer, out of anyone's reach).
    const closed = this.host.closed();
    if (closed !== undefined) {
      this.failure ??= closed;
      this.signal();
      return;
    }
    const endpoint = this.pickEndpoint(s);
    const prefix = this.opts.prefix === true;
    const call = this.host.stubs(endpoint).kv.watch(
      {
        shard: s.shard,
        key: prefix ? new Uint8Array(0) : this.key,
        prefix: prefix ? this.key : new Uint8Array(0),
        prefixSet: prefix,
        start: new Uint8Array(0),
        end: new Uint8Array(0),
        fromIndex: s.last >= 0n ? s.last + 1n : 0n,
        prevKv: this.opts.prevKv === true,
        progressIntervalMs: this.opts.progressIntervalMs ?? 0,
      },
      new Metadata(),
    );
    s.call = call;
    if (this.paused) call.pause();
    call.on('data', (r: WatchResponse) => this.onResponse(s, r));
    call.on('error', (e: ServiceError) => this.onFailure(s, call, e, endpoint));
    call.on('end', () => this.onFailure(s, call, undefined, endpoint));
  }

  private onResponse(s: ShardStream, r: WatchResponse): void {
    if (this.stopped) return;
    s.attempts = 0;
    s.compacted.clear();
    if (s.shard === 0) s.shard = r.shard;
    const position = r.index;
    if (r.events.length === 0) {
      if (s.last < position) s.last = position;
      if (this.opts.progress === true)
        this.push({ type: 'progress', position: s.last, shard: s.shard, node: r.nodeId });
      return;
    }
    // A stream resumed at last + 1 never repeats; this guards the rule rather than trusting it.
    if (position <= s.last) return;
    s.last = position;
    for (const e of r.events) {
      this.push({
        type: e.type === WatchEvent_Type.DELETE ? 'delete' : 'put',
        key: e.key,
        value: e.value,
        position,
        shard: r.shard,
        node: r.nodeId,
        prevKv: e.prevKv === undefined ? undefined : { value: e.prevKv.value, version: e.prevKv.version },
      });
    }
  }

  private push(item: WatchItem): void {
    this.queue.push(item);
    if (!this.paused && this.queue.length >= QUEUE_PAUSE_ITEMS) this.setPaused(true);
    this.signal();
  }

  private onFailure(
    s: ShardStream,
    call: ClientReadableStream<WatchResponse>,
    e: ServiceError | undefined,
    endpoint: string,
  ): void {
    if (s.call !== call || this.stopped) return;
    s.call = undefined;
    const code = e === undefined ? 'OK' : codeName(e.code);
    const details = e === undefined ? 'the stream ended' : e.details || e.message;
    if (code === 'OUT_OF_RANGE') {
      const oldest = BigInt(String(e?.metadata.get('ringkv-watch-oldest')[0] ?? '0'));
      s.compacted.set(endpoint, { oldest, details });
      const endpoints = this.host.endpoints().length;
      if (s.compacted.size >= endpoints || s.attempts >= 2 * endpoints) {
        let best: [string, { oldest: bigint; details: string }] | undefined;
        for (const c of s.compacted) if (best === undefined || c[1].oldest < best[1].oldest) best = c;
        const [at, why] = best ?? [endpoint, { oldest, details }];
        this.failure = new WatchCompactedError(why.details, s.shard, why.oldest, at);
        this.signal();
        return;
      }
    }
    if (code === 'INVALID_ARGUMENT' || code === 'UNIMPLEMENTED') {
      this.failure = new RingkvError(`watch: ${code} from ${endpoint}: ${details}`, {
        endpoint,
        grpcCode: code,
      });
      this.signal();
      return;
    }
    const hint = e?.metadata.get(LEADER_ADDR_TRAILER)[0];
    if (typeof hint === 'string' && hint !== '') s.hint = hint;
    const delay = backoffDelayMs(BACKOFF, s.attempts++, Math.random);
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.open(s);
    }, delay);
    this.timers.add(t);
  }
}
