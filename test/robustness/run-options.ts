// The options of a robustness run (run.ts), their defaults, and the command line that sets them:
// parsing `npm run robustness -- ...` (the flags are documented at the top of run.ts) and the
// command that replays a run.
import { FAULT_GROUPS, FAULT_KINDS, faultHelp, parseFaultList, type FaultChoice } from './fault-kinds';

export interface RunOptions {
  durationMs: number;
  seed: number;
  /** Output dir (default: a new dir under the OS temp dir). */
  out?: string;
  clients: number;
  /** Target ops/s over all clients. */
  rate: number;
  /** Each fault kind once first (random order), then random ones; the run lasts until all ran. */
  everyKindFirst: boolean;
  /** The faults to choose from (default: every kind). */
  faults: readonly FaultChoice[];
  /** Stop after this many faults (and, if durationMs is Infinity, not before). */
  rounds?: number;
  /** Multiplies every fault's hold time. */
  holdScale: number;
  /** Target ops/s of the lease stress clients (0: no lease stress). */
  leaseRate: number;
  /** Pause between faults (ms). */
  faultGapMs: [number, number];
  /** Time the linearizability checker may take. */
  checkTimeMs: number;
  keepData: boolean;
  /** Extra flags for every member. */
  memberArgs: string[];
  /** Print progress lines. */
  verbose: boolean;
  /** Client and peer traffic over TLS with client certificates (security.ts). */
  tls: boolean;
  /** Auth enabled before the workload; clients call with tokens (security.ts, access.ts). */
  auth: boolean;
}

export const DEFAULTS: RunOptions = {
  durationMs: 60_000,
  seed: 0,
  clients: 5,
  rate: 200,
  everyKindFirst: false,
  faults: FAULT_KINDS.map((k) => [k]),
  holdScale: 1,
  leaseRate: 100,
  faultGapMs: [1500, 4000],
  checkTimeMs: 60_000,
  keepData: false,
  memberArgs: ['--snapshot-count', '1000'],
  verbose: true,
  tls: false,
  auth: false,
};

/** The command line that runs the same again (same seed, same choices). */
export function replayCommand(o: RunOptions): string {
  const args = [Number.isFinite(o.durationMs) ? `--seconds ${Math.round(o.durationMs / 1000)}` : '', `--seed ${o.seed}`, `--clients ${o.clients}`, `--rate ${o.rate}`, `--lease-rate ${o.leaseRate}`];
  const names = o.faults.map((c) => (c.length === 1 ? c[0] : (Object.entries(FAULT_GROUPS).find(([, ks]) => ks.length === c.length && ks.every((k, i) => k === c[i]))?.[0] ?? c.join(','))));
  if (names.join(',') !== FAULT_KINDS.join(',')) args.push(`--faults ${names.join(',')}`);
  if (o.rounds !== undefined) args.push(`--rounds ${o.rounds}`);
  if (o.everyKindFirst) args.push('--every-kind-first');
  if (o.holdScale !== 1) args.push(`--hold-scale ${o.holdScale}`);
  if (o.tls) args.push('--tls');
  if (o.auth) args.push('--auth');
  // --member-arg appends to the default member args (a later flag wins over an earlier one).
  const d = DEFAULTS.memberArgs;
  const extra = o.memberArgs.slice(0, d.length).join('\0') === d.join('\0') ? o.memberArgs.slice(d.length) : o.memberArgs;
  for (const a of extra) args.push(`--member-arg=${a}`);
  return `npm run robustness -- ${args.filter((a) => a !== '').join(' ')}`;
}

/** `npm run robustness -- ...` -> the options it sets (throws on a bad flag; --help prints and exits). */
export function parseArgs(argv: string[]): Partial<RunOptions> {
  const o: Partial<RunOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(val());
      if (!Number.isFinite(v)) throw new Error(`${flag}: not a number`);
      return v;
    };
    switch (flag) {
      case '--minutes':
        o.durationMs = num() * 60_000;
        break;
      case '--seconds':
        o.durationMs = num() * 1000;
        break;
      case '--seed':
        o.seed = num() >>> 0;
        break;
      case '--out':
        o.out = val();
        break;
      case '--clients':
        o.clients = num();
        break;
      case '--rate':
        o.rate = num();
        break;
      case '--every-kind-first':
        o.everyKindFirst = true;
        break;
      case '--faults':
        o.faults = parseFaultList(val());
        break;
      case '--rounds':
        o.rounds = num();
        break;
      case '--hold-scale':
        o.holdScale = num();
        break;
      case '--lease-rate':
        o.leaseRate = num();
        break;
      case '--member-arg':
        o.memberArgs = [...(o.memberArgs ?? DEFAULTS.memberArgs), val()];
        break;
      case '--check-seconds':
        o.checkTimeMs = num() * 1000;
        break;
      case '--keep-data':
        o.keepData = true;
        break;
      case '--tls':
        o.tls = true;
        break;
      case '--auth':
        o.auth = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          'npm run robustness -- [--minutes N=1 | --seconds N] [--seed S=random] [--out DIR] [--clients C=5] [--rate OPS/s=200] [--lease-rate OPS/s=100]\n' +
            '                      [--faults K1,K2,...] [--rounds N] [--every-kind-first] [--hold-scale X=1] [--check-seconds S=60] [--keep-data] [--member-arg ARG]...\n' +
            '                      [--tls] [--auth]\n' +
            '  --rounds without --minutes/--seconds: the run lasts until N faults are done\n' +
            '  --tls: client and peer URLs https, certificates required both ways; --auth: auth enabled, clients use tokens\n\n' +
            faultHelp(),
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  if (o.rounds !== undefined && o.durationMs === undefined) o.durationMs = Infinity;
  return o;
}
