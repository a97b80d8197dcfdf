// The command line of a small bench script: string options with defaults, --help (usage on
// stdout, exit 0), and a bad option or value (the reason and the usage on stderr, exit 2).
import { parseArgs } from 'node:util';

export interface ScriptOptions {
  /** The option's value as given, or its default. */
  string(name: string): string;
  /** The option as an integer in [min, max]; anything else exits 2 naming it. */
  int(name: string, min: number, max: number): number;
}

export function scriptOptions(defaults: Readonly<Record<string, string>>, usage: string): ScriptOptions {
  const fail = (why: string): never => {
    process.stderr.write(`${why}\n${usage}\n`);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    const options: Record<string, { type: 'string'; default: string } | { type: 'boolean'; short: 'h' }> = {
      help: { type: 'boolean', short: 'h' },
    };
    for (const [name, value] of Object.entries(defaults)) options[name] = { type: 'string', default: value };
    ({ values } = parseArgs({ options }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const string = (name: string): string => String(values[name] ?? '');
  return {
    string,
    int(name, min, max) {
      const n = Number(string(name));
      if (!Number.isInteger(n) || n < min || n > max)
        fail(`--${name} must be an integer in [${min}, ${max}], got ${string(name)}`);
      return n;
    },
  };
}
