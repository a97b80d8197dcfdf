// Durations on the command line: `1500ms`, `90s`, `5m`, `1h`, `7d`, or a bare number of seconds;
// decimals allowed (`1.5s`). Each flag checks its own bounds and names itself in the message.

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The duration in whole milliseconds, or undefined when `text` is not one. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) return undefined;
  const ms = Math.round(Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
