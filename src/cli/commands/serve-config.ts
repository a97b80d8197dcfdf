// Where each setting of `ringkv serve` comes from, and which wins: its flag on the command line,
// then an environment variable (RINGKV_ and the flag's name in upper case), then a config file
// (--config_file: YAML, or JSON for a name ending in .json; its keys are the flag names, as etcd's
// config file uses its flag names), then the flag's default. Every setting remembers its source,
// so that a bad value is reported as the operator wrote it: `RINGKV_PORT=abc: --port …`,
// `node1.yaml: port: …`. Pure except readConfigFile (which reads the file and loads the YAML parser
// only when a config file is given, so that `ringkv --help` stays fast).
import { readFileSync } from 'node:fs';

export type SettingValue = string | boolean;

export type SettingSource =
  | { readonly kind: 'flag' }
  | { readonly kind: 'env'; readonly variable: string }
  | { readonly kind: 'file'; readonly path: string; readonly key: string }
  | { readonly kind: 'default' };

export interface Setting {
  readonly value: SettingValue;
  readonly source: SettingSource;
}

/** Flag name (underscore spelling) → its setting. A flag absent from every source is absent here. */
export type Settings = ReadonlyMap<string, Setting>;

export const ENV_PREFIX = 'RINGKV_';

/**
 * Variables other ringkv commands and tools read (the client commands, the tests, the benchmark's
 * probes). They may well be set where a node runs, so they are not reported as unknown.
 */
export const OTHER_RINGKV_VARIABLES: readonly string[] = [
  'RINGKV_ENDPOINTS',
  'RINGKV_CACERT',
  'RINGKV_CERT',
  'RINGKV_KEY',
  'RINGKV_DEBUG',
  'RINGKV_TEST_LOG',
  'RINGKV_LIN_SEED',
  'RINGKV_BENCH_EVENT_LOOP_DIR',
  'RINGKV_ALLOC_PROF_DIR',
];

/** Bound on a config file's size: a few dozen settings take a few KiB. */
export const CONFIG_FILE_BYTES_MAX = 1024 * 1024;

/** `node_id` → `RINGKV_NODE_ID`. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase();
}

/**
 * The settings the environment gives, and the RINGKV_ variables that name no flag (a typo, most
 * likely: the caller warns about them). An empty variable counts as unset, as etcd does, so that
 * `RINGKV_JOIN_ADDR=` in a unit file or a compose file means "not given".
 */
export function settingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  flags: readonly string[],
): { readonly settings: Map<string, Setting>; readonly unknown: string[] } {
  const settings = new Map<string, Setting>();
  for (const flag of flags) {
    const variable = envName(flag);
    const value = env[variable];
    if (value !== undefined && value !== '') settings.set(flag, { value, source: { kind: 'env', variable } });
  }
  const known = new Set([...flags.map(envName), ...OTHER_RINGKV_VARIABLES]);
  const unknown = Object.keys(env)
    .filter((v) => v.startsWith(ENV_PREFIX) && !known.has(v))
    .sort();
  return { settings, unknown };
}

/** The settings of a parsed config file, or a message naming the file and what is wrong in it. */
export function settingsFromFile(
  doc: unknown,
  path: string,
  flags: readonly string[],
): Map<string, Setting> | string {
  const settings = new Map<string, Setting>();
  if (doc === null || doc === undefined) return settings; // an empty file sets nothing
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    return `${path}: expected a mapping of flag names to values (e.g. "node_id: node1"), got ${kindOf(doc)}`;
  }
  const byKey = new Map<string, string>();
  /** Flag → the key that set it, to refuse `node_id` and `node-id` both. */
  const seen = new Map<string, string>();
  for (const flag of flags) {
    byKey.set(flag, flag);
    byKey.set(flag.replaceAll('_', '-'), flag);
  }
  for (const [key, raw] of Object.entries(doc)) {
    const flag = byKey.get(key);
    if (flag === undefined) {
      const near = nearest(key, flags);
      return (
        `${path}: unknown key '${key}'${near === undefined ? '' : ` (did you mean '${near}'?)`}; ` +
        `the keys are serve's flag names: ${flags.join(', ')}`
      );
    }
    const earlier = seen.get(flag);
    if (earlier !== undefined) return `${path}: '${earlier}' and '${key}' are the same setting; give it once`;
    seen.set(flag, key);
    if (raw === null || raw === undefined) continue; // "join_addr:" with nothing after it: not given
    if (typeof raw === 'number' && !Number.isFinite(raw)) return `${path}: ${key}: must be a finite number`;
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      return `${path}: ${key}: must be a single value, got ${kindOf(raw)}`;
    }
    const value = typeof raw === 'number' ? String(raw) : raw;
    settings.set(flag, { value, source: { kind: 'file', path, key } });
  }
  return settings;
}

/** One setting per flag: the first layer that has it wins (layers in order of precedence). */
export function mergeSettings(...layers: readonly Settings[]): Map<string, Setting> {
  const merged = new Map<string, Setting>();
  for (const layer of layers) {
    for (const [flag, setting] of layer) if (!merged.has(flag)) merged.set(flag, setting);
  }
  return merged;
}

/**
 * `problem` ("must be …, got 'x'") about `flag`, prefixed with where its value came from, in the
 * words the operator used there.
 */
export function describeProblem(flag: string, setting: Setting | undefined, problem: string): string {
  const source = setting?.source;
  switch (source?.kind) {
    case 'env':
      return `${source.variable}=${String(setting?.value)}: --${flag} ${problem}`;
    case 'file':
      return `${source.path}: ${source.key}: ${problem}`;
    case 'default':
      return `--${flag} (default) ${problem}`;
    default:
      return `--${flag} ${problem}`;
  }
}

/** The parsed config file, or a message naming it and what is wrong (unreadable, too large, bad syntax). */
export async function readConfigFile(path: string): Promise<{ readonly doc: unknown } | string> {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > CONFIG_FILE_BYTES_MAX) {
      return `--config_file ${path}: ${bytes.length} bytes, more than a config file holds (at most ${CONFIG_FILE_BYTES_MAX})`;
    }
    text = bytes.toString('utf8');
  } catch (e) {
    return `--config_file ${path}: cannot read it: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (path.toLowerCase().endsWith('.json')) {
    try {
      return { doc: JSON.parse(text) as unknown };
    } catch (e) {
      return `${path}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const { parseDocument } = await import('yaml');
  // YAML 1.2 (so `yes` stays the string "yes"); a key given twice is an error, not a silent override.
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const error = document.errors[0];
  if (error !== undefined)
    return `${path}: not valid YAML: ${error.message.split('\n')[0]?.replace(/:$/, '')}`;
  return { doc: document.toJS() as unknown };
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/** The flag within edit distance 2 of `key` (its dashes read as underscores), if one is. */
function nearest(key: string, flags: readonly string[]): string | undefined {
  const k = key.replaceAll('-', '_').toLowerCase();
  let best: { flag: string; d: number } | undefined;
  for (const flag of flags) {
    const d = editDistance(k, flag);
    if (d <= 2 && (best === undefined || d < best.d)) best = { flag, d };
  }
  return best?.flag;
}

/** Levenshtein distance; both strings are short (flag names), so the quadratic table is fine. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Exported for the warning about unknown variables: the flag a mistyped variable probably meant. */
export function nearestFlag(variable: string, flags: readonly string[]): string | undefined {
  return nearest(variable.slice(ENV_PREFIX.length), flags);
}
