// The `ringkv serve` processes of a chaos run, each started from a fixed command line (so a restart
// is the very same command), its output appended to a log file, and signalled by pid only. Every
// pid started is remembered until it exits; if the chaos process itself exits with some still
// alive (an error, Ctrl+C twice), an exit hook sends them SIGCONT and SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';

/** After SIGTERM, how long a node gets before SIGKILL. */
export const STOP_GRACE_MS = 5000;
/** After SIGKILL, how long we wait to see the exit (a process in uninterruptible sleep may take a while). */
const KILL_WAIT_MS = 10_000;

const livePids = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => killAllNow());
}

/** Synchronous last resort: SIGCONT + SIGKILL to every pid still alive. */
export function killAllNow(): number {
  let n = 0;
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // already gone
    }
  }
  livePids.clear();
  return n;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
}

export class ServeProcess {
  readonly name: string;
  /** The full command line: program and arguments. */
  readonly argv: readonly string[];
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> | undefined;
  /** The last run's exit (undefined while running or never started). */
  lastExit: Exit | undefined;
  paused = false;
  starts = 0;

  constructor(name: string, argv: readonly string[], logPath: string) {
    if (argv.length === 0) throw new Error(`${name}: empty command line`);
    this.name = name;
    this.argv = argv;
    this.logPath = logPath;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastExit === undefined;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || !this.running) throw new Error(`${this.name} is not running`);
    return pid;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.child?.pid})`);
    installExitHook();
    appendFileSync(this.logPath, `--- chaos: start ${this.argv.join(' ')}\n`);
    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.argv[0]!, this.argv.slice(1), { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid !== undefined) livePids.add(pid);
    this.lastExit = undefined;
    this.paused = false;
    this.starts++;
    this.exited = new Promise((resolve) => {
      const done = (exit: Exit): void => {
        if (pid !== undefined) livePids.delete(pid);
        if (this.child === child) this.lastExit = exit;
        resolve(exit);
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      child.once('error', (err) => {
        appendFileSync(this.logPath, `--- chaos: could not start: ${err.message}\n`);
        done({ code: null, signal: null });
      });
    });
    this.child = child;
  }

  /** Sends `signal` and waits (bounded) for the exit; throws when it did not come. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = KILL_WAIT_MS): Promise<Exit> {
    const pid = this.pid;
    if (this.paused && signal !== 'SIGKILL') this.resume();
    process.kill(pid, signal);
    const exit = await within(this.exited!, timeoutMs);
    if (exit === undefined)
      throw new Error(`${this.name} (pid ${pid}) did not exit within ${timeoutMs} ms of ${signal}`);
    this.paused = false;
    return exit;
  }

  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
    this.paused = false;
  }

  /** SIGCONT + SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited (or was not running). */
  async stop(graceMs = STOP_GRACE_MS): Promise<Exit | undefined> {
    if (!this.running) return this.lastExit;
    const pid = this.pid;
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
    } catch {
      // exited meanwhile
    }
    this.paused = false;
    const exit = await within(this.exited!, graceMs);
    if (exit !== undefined) return exit;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
    return within(this.exited!, KILL_WAIT_MS);
  }

  /** Resolves when the current run exits. */
  get exit(): Promise<Exit> {
    if (this.exited === undefined) throw new Error(`${this.name} was never started`);
    return this.exited;
  }
}

/** `p`'s value, or undefined after `ms`; the timer never holds the process. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
