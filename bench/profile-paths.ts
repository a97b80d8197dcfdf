// How the profile summaries name a script: `nm/<package path>` for dependencies, repo-relative for
// ours (the profiled checkout may be a worktree of another commit).

/** Everything up to the checkout's root in a profile's file URL. */
const REPO_PREFIX = /^.*?\/(?=(src|bench|scripts|test)\/)/;

export function shortPath(url: string): string {
  if (url.includes('node_modules/')) return url.replace(/^.*node_modules\//, 'nm/');
  return url.replace(REPO_PREFIX, '');
}
