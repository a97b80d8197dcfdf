// What the profile summaries share: their command line, and how they name a script
// (`nm/<package path>` for dependencies, repo-relative for ours; the profiled checkout may be a
// worktree of another commit).

/**
 * `file… [--top N]`: the profile files and how many rows to print (default 40). `--help` prints
 * `usage` and exits; no file, an unknown option or a bad N print it and exit 2.
 */
export function summaryArgs(argv: readonly string[], usage: string): { files: string[]; top: number } {
  const fail = (why: string): never => {
    process.stderr.write(`${why}\n${usage}\n`);
    process.exit(2);
  };
  if (argv.includes('--help')) {
    console.log(usage);
    process.exit(0);
  }
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 40;
  if (!Number.isInteger(top) || top < 1) fail(`--top must be a positive integer, got ${argv[topAt + 1]}`);
  const files = argv.filter((a, i) => a !== '--top' && (topAt < 0 || i !== topAt + 1));
  const unknown = files.find((f) => f.startsWith('--'));
  if (unknown !== undefined) fail(`unknown option ${unknown}`);
  if (files.length === 0) fail('no profile file given');
  return { files, top };
}

/** A V8 .cpuprofile, the parts the summaries read. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Everything up to the checkout's root in a profile's file URL. */
const REPO_PREFIX = /^.*?\/(?=(src|bench|scripts|test)\/)/;

export function shortPath(url: string): string {
  if (url.includes('node_modules/')) return url.replace(/^.*node_modules\//, 'nm/');
  return url.replace(REPO_PREFIX, '');
}
