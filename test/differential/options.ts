// The command line of `npm run differential -- ...` (documented at the top of run.ts).
import type { Impl } from './side';

export interface CliOptions {
  seeds: number[];
  ops: number;
  against: Impl;
  stopAtFirst: boolean;
  trace: boolean;
  quiet: boolean;
  stats: boolean;
  /** Write every mismatch as JSON here. */
  out?: string;
  /** Write the classes with one repro each as markdown here. */
  findings?: string;
}

export const USAGE = `npm run differential -- [--seed N | --seeds A..B] [--ops K=1000] [--against etcd-ts|etcd] [--stop-at-first]
                         [--trace] [--quiet] [--stats] [--out FILE.json] [--findings FILE.md]
  --seed N         the request sequence (default: random); --seeds A..B runs seeds A to B one after another
  --ops K          requests per seed
  --against etcd   real etcd against real etcd: checks the tool (must find nothing)
  --stop-at-first  stop at the first mismatch (default: go on, restarting both servers if the stores diverged)
  --trace          print every request; --quiet prints only the summary, not every mismatch
  --stats          what the reference answered, per request kind and outcome
  --out            every mismatch as JSON; --findings the mismatch classes with one repro each (markdown)
`;

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { seeds: [], ops: 1000, against: 'etcd-ts', stopAtFirst: false, trace: false, quiet: false, stats: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (s: string): number => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: not a non-negative integer: ${s}`);
      return n;
    };
    switch (flag) {
      case '--seed':
        o.seeds = [int(val())];
        break;
      case '--seeds': {
        const m = /^(\d+)(?:\.\.|-)(\d+)$/.exec(val());
        if (m === null) throw new Error('--seeds wants A..B');
        const [lo, hi] = [int(m[1]), int(m[2])];
        o.seeds = Array.from({ length: Math.max(0, hi - lo + 1) }, (_, k) => lo + k);
        break;
      }
      case '--ops':
        o.ops = int(val());
        break;
      case '--against': {
        const v = val();
        if (v !== 'etcd' && v !== 'etcd-ts') throw new Error('--against wants etcd or etcd-ts');
        o.against = v;
        break;
      }
      case '--stop-at-first':
        o.stopAtFirst = true;
        break;
      case '--trace':
        o.trace = true;
        break;
      case '--stats':
        o.stats = true;
        break;
      case '--quiet':
        o.quiet = true;
        break;
      case '--out':
        o.out = val();
        break;
      case '--findings':
        o.findings = val();
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${a}\n${USAGE}`);
    }
  }
  if (o.seeds.length === 0) o.seeds = [Math.floor(Math.random() * 2 ** 31)];
  return o;
}
