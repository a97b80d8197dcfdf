// `ringkv shard list`: every data shard as the shard table places it (slots, voters, learners, epoch,
// the move in flight) with its leader, applied index, keys and bytes as the shard's replicas report
// them (the leader's report when it answered). The table comes from the
// Status of a member that has applied it (each member holds the metadata group's state); the leaders
// from the most authoritative report of each shard over every reachable member (src/client/cluster-view.ts).
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { ShardPlacement, StatusResponse, WantedMove } from '../../client/index.ts';
import { bestShardReports } from '../../client/index.ts';
import { connectionOptions, toJson, withClient } from './client-common.ts';
import { memberTimeoutMs } from './cluster.ts';
import { reportFailure } from './output.ts';

type Opts = Record<string, unknown>;

export interface ShardRow {
  readonly shardId: number;
  readonly slotFirst: number;
  readonly slotLast: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** '' when no reachable replica knows one. */
  readonly leader: string;
  readonly epoch: number;
  /** Applied index, live keys and their key plus value bytes, by the best report (0 when none). */
  readonly applied: number;
  readonly keys: number;
  readonly bytes: number;
  /** The move in flight, or null. */
  readonly move: { readonly source: string; readonly target: string; readonly step: string } | null;
}

/** The status of the member that applied the most of the shard table (the highest epochs). */
function latestTable(statuses: readonly StatusResponse[]): StatusResponse | undefined {
  const epochs = (p: readonly ShardPlacement[]) => p.reduce((acc, s) => acc + s.epoch, 0n);
  return [...statuses].sort((a, b) => Number(epochs(b.placement) - epochs(a.placement)))[0];
}

/** The shard table of the reachable members' statuses, with each shard's leader. */
export function shardRows(statuses: readonly StatusResponse[]): ShardRow[] {
  const table = latestTable(statuses)?.placement ?? [];
  const reports = new Map(bestShardReports(statuses).map((s) => [s.shardId, s]));
  return table.map((p) => ({
    shardId: p.shardId,
    slotFirst: p.slotFirst,
    slotLast: p.slotLast,
    voters: p.voters,
    learners: p.learners,
    leader: reports.get(p.shardId)?.leader ?? '',
    epoch: Number(p.epoch),
    applied: Number(reports.get(p.shardId)?.applied ?? 0n),
    keys: Number(reports.get(p.shardId)?.keys ?? 0n),
    bytes: Number(reports.get(p.shardId)?.bytes ?? 0n),
    move: p.move === undefined ? null : { source: p.move.source, target: p.move.target, step: p.move.step },
  }));
}

export function runShardList(opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const { timeoutMs } = connectionOptions(opts);
    const { members } = await client.statusOfEveryMember({ memberTimeoutMs: memberTimeoutMs(timeoutMs) });
    const statuses = members.flatMap((m) => ('status' in m ? [m.status] : []));
    const rows = shardRows(statuses);
    // Moves the rebalancer wants beyond those in flight, by the same table.
    const wanted = latestTable(statuses)?.wantedMoves ?? [];
    if (opts.output === 'json') {
      process.stdout.write(`${toJson({ shards: rows, wantedMoves: wanted.map(wantedRow) })}\n`);
    } else {
      const table = new Table({
        head: ['shard', 'slots', 'voters', 'learners', 'leader', 'epoch', 'applied', 'keys', 'bytes', 'move'],
        style: { head: [], border: [], compact: true },
      });
      for (const r of rows) {
        const move =
          r.move === null
            ? '-'
            : `${r.move.source || '(none)'} → ${r.move.target || '(none)'} at ${r.move.step}`;
        table.push([
          r.shardId,
          `${r.slotFirst}-${r.slotLast}`,
          r.voters.join(','),
          r.learners.join(',') || '-',
          r.leader || '-',
          r.epoch,
          r.applied,
          r.keys,
          formatBytes(r.bytes),
          move,
        ]);
      }
      process.stdout.write(`${table.toString()}\n`);
      const inFlight = rows.filter((r) => r.move !== null).length;
      process.stdout.write(
        wanted.length === 0 && inFlight === 0
          ? 'balanced: every shard is where the ring places it\n'
          : `rebalancing: ${inFlight} move(s) in flight, ${wanted.length} more wanted (ringkv cluster rebalance --dry-run)\n`,
      );
    }
    // 1 when no member knows the table yet.
    return rows.length > 0 ? 0 : 1;
  });
}

/** Bytes for people: 512 B, 1.5 KiB, 20.0 MiB, 3.2 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export interface WantedRow {
  readonly shardId: number;
  /** null: the move only adds a replica (source) or only removes one (target). */
  readonly source: string | null;
  readonly target: string | null;
  readonly reason: string;
  readonly detail: string;
  /** null: begun at the rebalancer's next round; else the limit that holds it back. */
  readonly deferred: string | null;
}

function wantedRow(m: WantedMove): WantedRow {
  return {
    shardId: m.shardId,
    source: m.source || null,
    target: m.target || null,
    reason: m.reason,
    detail: m.detail,
    deferred: m.deferred || null,
  };
}

/**
 * `ringkv cluster rebalance --dry-run`: the moves in flight (from the shard table) and the moves the
 * rebalancer wants and why, by the table of the member that applied the most of it. Changes nothing:
 * the rebalancer runs by itself on the metadata leader. Exit status 0 (1 when no member answered).
 */
export function runRebalanceDryRun(opts: Opts, cmd: Command): Promise<number> {
  return withClient(opts, cmd, async (client) => {
    const { timeoutMs } = connectionOptions(opts);
    const { members } = await client.statusOfEveryMember({ memberTimeoutMs: memberTimeoutMs(timeoutMs) });
    const latest = latestTable(members.flatMap((m) => ('status' in m ? [m.status] : [])));
    if (latest === undefined || latest.placement.length === 0) {
      reportFailure(opts, 'NO_SHARD_TABLE', 'no member answered with the shard table', '');
      return 1;
    }
    const inFlight = latest.placement.flatMap((p) =>
      p.move === undefined
        ? []
        : [
            {
              shardId: p.shardId,
              source: p.move.source || null,
              target: p.move.target || null,
              step: p.move.step,
            },
          ],
    );
    const wanted = latest.wantedMoves.map(wantedRow);
    if (opts.output === 'json') {
      process.stdout.write(`${toJson({ inFlight, wanted })}\n`);
      return 0;
    }
    const end = (x: string | null) => x ?? '(none)';
    if (inFlight.length > 0) {
      process.stdout.write('in flight:\n');
      for (const m of inFlight)
        process.stdout.write(`  shard ${m.shardId}: ${end(m.source)} → ${end(m.target)} at ${m.step}\n`);
    }
    if (wanted.length === 0) {
      process.stdout.write(
        inFlight.length === 0
          ? 'balanced: every shard is where the ring places it; nothing to move\n'
          : 'nothing more to move once the moves in flight are done\n',
      );
      return 0;
    }
    process.stdout.write(`wanted (${wanted.length}):\n`);
    for (const m of wanted) {
      const when = m.deferred === null ? 'next round' : `held back: ${m.deferred}`;
      process.stdout.write(
        `  shard ${m.shardId}: ${end(m.source)} → ${end(m.target)} (${m.reason}: ${m.detail}; ${when})\n`,
      );
    }
    return 0;
  });
}
