// What the two profile summaries share: their command line, and how they name a script
// (`nm/<package path>` for dependencies, repo-relative for ours; the profiled checkout may be a
// worktree of another commit).

/** `file… [--top N]`: the profile files and how many rows to print (default 40). */
export function summaryArgs(argv: readonly string[]): { files: string[]; top: number } {
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 40;
  return { files: argv.filter((a, i) => a !== '--top' && (topAt < 0 || i !== topAt + 1)), top };
}

/** Everything up to the checkout's root in a profile's file URL. */
const REPO_PREFIX = /^.*?\/(?=(src|bench|scripts|test)\/)/;

export function shortPath(url: string): string {
  if (url.includes('node_modules/')) return url.replace(/^.*node_modules\//, 'nm/');
  return url.replace(REPO_PREFIX, '');
}
