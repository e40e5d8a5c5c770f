// Which keys a user may read and write: the union of the intervals its roles grant (etcd's
// range_perm_cache.go over pkg/adt's interval tree, rebuilt as etcd builds it: interval-tree.ts).
// Pure; the store caches one UnifiedPerms per user and drops the cache on every auth change.
//
// Key space (etcd's BytesAffineComparable): keys compare as bytes, except that the empty byte
// string is the largest element, +infinity. Hence:
//   permission range_end ""     -> the single key: [key, key+"\0")
//   permission range_end "\0"   -> from key on:    [key, +inf)      ("\0" is the open end, as in Range)
//   permission range_end other  -> [key, range_end)                 (a prefix is [p, p+1))
// A request for one key (empty range_end) is allowed when some interval holds the key; a request
// for [key, range_end) (range_end "\0" meaning +inf) when the intervals that overlap it leave no
// gap and reach from at or below key to at or above range_end. Intervals that merely touch
// ([a,b) then [b,c)) leave no gap.
import { PermType, type Permission } from './auth-record';
import { compareBound, IntervalTree, type Interval } from './interval-tree';

export { compareBound, type Interval } from './interval-tree';

export interface UnifiedPerms {
  read: IntervalTree;
  write: IntervalTree;
}

const EMPTY: Buffer = Buffer.alloc(0);

/** etcd's isOpenEnded: a range_end of one zero byte. */
export function isOpenEnded(rangeEnd: Buffer): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

/** [key, key+"\0"): the smallest interval holding exactly one key. */
function point(key: Buffer): Interval {
  return { begin: key, end: Buffer.concat([key, Buffer.from([0])]) };
}

/** The interval a granted permission covers. */
export function permissionInterval(p: Permission): Interval {
  if (p.range_end.length === 0) return point(p.key);
  return { begin: p.key, end: isOpenEnded(p.range_end) ? EMPTY : p.range_end };
}

/**
 * etcd's isValidPermissionRange (RoleGrantPermission refuses others with "invalid auth
 * management"): a key, and no range_end, or one above the key, or "\0".
 */
export function isValidPermissionRange(key: Buffer, rangeEnd: Buffer): boolean {
  if (key.length === 0) return false;
  if (rangeEnd.length === 0) return true;
  if (compareBound(key, rangeEnd) < 0) return true;
  return isOpenEnded(rangeEnd);
}

/**
 * etcd's getMergedPerms: the read and write intervals of a user's permissions (READWRITE counts
 * for both), inserted in the order given, which must be etcd's: the user's roles in their
 * (sorted) order, each role's permissions in its stored order. Unknown types grant nothing.
 */
export function unifyPerms(perms: Iterable<Permission>): UnifiedPerms {
  const read = new IntervalTree();
  const write = new IntervalTree();
  for (const p of perms) {
    const ivl = permissionInterval(p);
    if (p.permType === PermType.READ || p.permType === PermType.READWRITE) read.insert(ivl);
    if (p.permType === PermType.WRITE || p.permType === PermType.READWRITE) write.insert(ivl);
  }
  return { read, write };
}

/**
 * etcd's isRangeOpPermitted for a user's unified permissions: one key (empty rangeEnd) when some
 * interval holds it (checkKeyPoint); a range when the intervals cover [key, rangeEnd), rangeEnd
 * "\0" meaning +infinity (checkKeyInterval).
 */
export function isRangeOpPermitted(perms: UnifiedPerms, key: Buffer, rangeEnd: Buffer, permType: PermType.READ | PermType.WRITE): boolean {
  const tree = permType === PermType.READ ? perms.read : perms.write;
  if (rangeEnd.length === 0) return tree.intersects(point(key));
  return tree.contains({ begin: key, end: isOpenEnded(rangeEnd) ? EMPTY : rangeEnd });
}
