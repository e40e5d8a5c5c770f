// etcd's range_end convention, decoded once for every request kind (Range, DeleteRange, compares,
// watches): empty = the single key; "\0" = every key from key on; anything else = the end, exclusive.

/** Where a range ends: undefined = the single key; empty buffer = no end (etcd's "\0"). */
export type RangeEnd = Buffer | undefined;

const NO_END = Buffer.alloc(0);

export function rangeEnd(wire: Buffer | undefined): RangeEnd {
  if (wire === undefined || wire.length === 0) return undefined;
  if (wire.length === 1 && wire[0] === 0) return NO_END;
  return wire;
}
