// The Node flags a node (`ringkv serve`) runs with. They must be given when the process starts (V8
// sizes its heap then; v8.setFlagsFromString comes too late), so main.ts starts a `serve` process
// again with them, in place (process.execve: the same pid, the same file descriptors).
//
// --max-semi-space-size=4: V8's young generation at most 2 × 4 MiB instead of 2 × 16 MiB (and what
// grows with it). Measured with 3 nodes at 20,000 and 600,000 keys of 1 KiB under put-64: 80–110 MB
// less RSS per node, puts/s and latencies within the runs' noise (bench/README.md, "Values in slabs").
// Measured again with values in slabs: 13–32 MB less at 600,000 keys (the followers then under
// 1.5 × their data + 200 MB), 20–60 MB at 20,000; the price is the scavenges, four times as many:
// about 5 % of put-64's throughput with clients to a packed leader (bench/README.md, "Where a
// put's CPU goes with leaders spread, and the young generation again").

/** Flags added to a `serve` process, each unless the same option is already given to Node. */
export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The flags to start again with: for `serve` (the first argument that is not an option), those of
 * SERVE_NODE_FLAGS whose option neither the command line (`execArgv`) nor NODE_OPTIONS gives; for
 * any other command, none. Empty once they are all given, so a process starts again at most once.
 */
export function serveNodeFlags(
  args: readonly string[],
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  if (args.find((a) => !a.startsWith('-')) !== 'serve') return [];
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return SERVE_NODE_FLAGS.filter((flag) => {
    const name = flag.split('=')[0] as string;
    return !given.some((g) => g === name || g.startsWith(`${name}=`));
  });
}
