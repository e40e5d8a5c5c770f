// The cluster's downgrade record (etcd 3.5's membership.DowngradeInfo) and the version arithmetic
// around it. The record is cluster state: set only by applied DowngradeInfoSet entries, kept in
// the membership record so it survives restarts and travels in snapshots. Pure: no I/O here.
// etcd's sources: server/etcdserver/api/membership/downgrade.go (DowngradeInfo,
// AllowedDowngradeVersion), etcdserver/cluster_util.go (convertToClusterVersion), and
// coreos/go-semver v0.3.0 (what counts as a version).
import type { DowngradeInfo } from '../pb/types';

export type { DowngradeInfo };

/** A version reduced to major.minor, as etcd compares cluster versions. */
export interface MinorVersion {
  major: bigint;
  minor: bigint;
}

const INT64_MAX = (1n << 63n) - 1n;
/** go-semver's pre-release and metadata identifiers. */
const IDENTIFIER = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;

/**
 * go-semver's NewVersion: "M.m.p", optionally "-pre" and "+meta"; each number what Go's
 * ParseInt(10, 64) takes (signs cannot reach it: '-' and '+' were split off before).
 */
export function parseSemver(v: string): { major: bigint; minor: bigint; patch: bigint } | undefined {
  const plus = v.indexOf('+');
  const metadata = plus >= 0 ? v.slice(plus + 1) : '';
  let rest = plus >= 0 ? v.slice(0, plus) : v;
  const dash = rest.indexOf('-');
  const preRelease = dash >= 0 ? rest.slice(dash + 1) : '';
  rest = dash >= 0 ? rest.slice(0, dash) : rest;
  // Go's SplitN(s, ".", 3): a fourth dot stays in the third part, which then is no number.
  const first = rest.indexOf('.');
  const second = first < 0 ? -1 : rest.indexOf('.', first + 1);
  if (second < 0) return undefined;
  if (preRelease !== '' && !IDENTIFIER.test(preRelease)) return undefined;
  if (metadata !== '' && !IDENTIFIER.test(metadata)) return undefined;
  const parts = [rest.slice(0, first), rest.slice(first + 1, second), rest.slice(second + 1)];
  const nums: bigint[] = [];
  for (const p of parts) {
    if (!/^[0-9]+$/.test(p)) return undefined;
    const n = BigInt(p);
    if (n > INT64_MAX) return undefined;
    nums.push(n);
  }
  return { major: nums[0], minor: nums[1], patch: nums[2] };
}

/** etcd's convertToClusterVersion: "3.4.1" or "3.4" (read as "3.4.0"), kept to major.minor. */
export function parseClusterVersion(v: string): MinorVersion | undefined {
  const full = parseSemver(v) ?? parseSemver(`${v}.0`);
  return full === undefined ? undefined : { major: full.major, minor: full.minor };
}

/** etcd's AllowedDowngradeVersion: one minor below (a major's first minor has none that parses). */
export function allowedDowngradeVersion(cv: MinorVersion): MinorVersion {
  return { major: cv.major, minor: cv.minor - 1n };
}

export function sameMinor(a: MinorVersion, b: MinorVersion): boolean {
  return a.major === b.major && a.minor === b.minor;
}

/** As go-semver prints a major.minor version: "3.4.0". */
export function versionText(v: MinorVersion): string {
  return `${v.major}.${v.minor}.0`;
}

/**
 * etcd's check when a member recovers its state with a downgrade enabled (mustDetectDowngrade):
 * only a server of the target major.minor may run. etcd stops such a member; undefined means
 * this one is fine, else the reason etcd would give.
 */
export function downgradeRefusal(d: DowngradeInfo | undefined, serverVersion: string): string | undefined {
  if (d === undefined || !d.enabled || d.targetVersion === '') return undefined;
  const local = parseClusterVersion(serverVersion);
  const target = parseSemver(d.targetVersion);
  if (local !== undefined && target !== undefined && sameMinor(local, target)) return undefined;
  return 'invalid downgrade; server version is not allowed to join when downgrade is enabled';
}

/**
 * The record as we store it or as etcd does ("target-version"); a missing field is its zero
 * value, as Go's json.Unmarshal leaves it. Undefined when absent or not such a record.
 */
export function parseDowngradeInfo(v: unknown): DowngradeInfo | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const target = r.targetVersion ?? r['target-version'] ?? '';
  const enabled = r.enabled ?? false;
  if (typeof enabled !== 'boolean' || typeof target !== 'string') return undefined;
  return { enabled, targetVersion: target };
}

/**
 * The value of etcd's `cluster` bucket key "downgrade": Go's json.Marshal of DowngradeInfo, in
 * its field order, with Go's escaping of <, > and & (JSON.stringify does the rest alike).
 */
export function etcdDowngradeJson(d: DowngradeInfo): string {
  const goString = (s: string): string => JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `{"target-version":${goString(d.targetVersion)},"enabled":${d.enabled}}`;
}
