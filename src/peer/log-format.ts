// Field values as etcd's logs print them, so that operators' greps and dashboards keep working:
// sizes as go-humanize's Bytes ("83 MB", SI units) and durations as Go's time.Duration.String().

const SIZES = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** go-humanize Bytes: 82854982 -> "83 MB", 1500 -> "1.5 kB", 7 -> "7 B". */
export function humanizeBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  const e = Math.min(SIZES.length - 1, Math.floor(Math.log(bytes) / Math.log(1000)));
  const val = Math.floor((bytes / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${SIZES[e]}`;
}

/** Go's Duration.String for a span in nanoseconds: "850ns", "1.5ms", "2.25s", "1m3.5s", "0s". */
export function goDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  const u = ns < 0n ? -ns : ns;
  if (u < 1_000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${decimal(u, 1_000n)}µs`;
  if (u < 1_000_000_000n) return `${sign}${decimal(u, 1_000_000n)}ms`;
  const hours = u / 3_600_000_000_000n;
  const minutes = (u / 60_000_000_000n) % 60n;
  let out = `${decimal(u % 60_000_000_000n, 1_000_000_000n)}s`;
  if (hours > 0n || minutes > 0n) out = `${minutes}m${out}`;
  if (hours > 0n) out = `${hours}h${out}`;
  return sign + out;
}

/** v / unit in decimal, without trailing zeros (unit is a power of ten). */
function decimal(v: bigint, unit: bigint): string {
  const whole = v / unit;
  const digits = unit.toString().length - 1;
  const frac = (v % unit).toString().padStart(digits, '0').replace(/0+$/, '');
  return frac === '' ? `${whole}` : `${whole}.${frac}`;
}
