// The building blocks of generated requests: keys from a small space (so that operations keep
// hitting the same keys), values, revisions around the store's current and compacted ones, lease
// IDs, and sizes around the request limits.
import type { Prng } from '../robustness/prng';
import { AutoLease } from './steps';

export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** etcd's default --max-request-bytes, and grpc's receive limit on top of it (+512 KiB). */
export const MAX_REQUEST_BYTES = 1572864;
export const GRPC_RECV_LIMIT = MAX_REQUEST_BYTES + 512 * 1024;

const KEYS = ['a', 'a/1', 'a/2', 'a0', 'b', 'ba', 'c', 'foo', '\x00', 'a\x00', '\xff', '\xff\xff', 'z\x00\xff'].map(latin1);
const VALUES = ['', 'v', 'v1', 'v2', 'value-3', '\x00', '\xff\x00'].map(latin1);

/** What the generator knows of the store: from the reference server's answers. */
export interface GenState {
  revision: number;
  compacted: number;
  /** Slots handed out for ID-0 grants, and those the reference granted and has not revoked. */
  autoSlots: number;
  liveAuto: Set<number>;
  /** Explicit lease IDs the reference granted and has not revoked. */
  liveExplicit: Set<string>;
  /** Per stream number: the watch IDs open on it (from the reference's created answers). */
  watches: Map<number, number[]>;
}

export const freshState = (): GenState => ({ revision: 1, compacted: 0, autoSlots: 0, liveAuto: new Set(), liveExplicit: new Set(), watches: new Map() });

export const EXPLICIT_LEASE_IDS = ['1', '2', '3', '42', '1000', '9223372036854775807', '-7'];

export class Values {
  constructor(
    readonly r: Prng,
    readonly st: GenState,
  ) {}

  /** A size near one of the limits (the raft entry limit, grpc's message limit, grpc's 4 MiB
   *  default), or about half of grpc's limit (two such events fill a watch response). */
  bigSize(): number {
    const base = this.r.pick([MAX_REQUEST_BYTES, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES, GRPC_RECV_LIMIT, 4 * 1024 * 1024, halfWatchLimit(this.r)]);
    return Math.max(0, base + this.r.int(-48, 16));
  }

  big(): Buffer {
    return Buffer.alloc(this.bigSize(), this.r.pick(['x', 'y', '\xff']), 'latin1');
  }

  /** `inTxn`: fewer empty and big ones (a txn has many; one spoils the whole txn). */
  key(inTxn = false): Buffer {
    return this.r.weighted<() => Buffer>([
      [() => this.r.pick(KEYS), 92],
      [() => Buffer.alloc(0), inTxn ? 0.3 : 1],
      [() => latin1(this.r.pick(['a', 'b', 'k']) + String(this.r.int(0, 9))), 5],
      [() => this.big(), inTxn ? 0.06 : 0.25],
    ])();
  }

  /** A range_end for `key`: none most often, from-key, the prefix end, another key, the key.
   *  Undefined leaves the field out; an empty Buffer is sent as a present, empty field, which etcd
   *  3.4's Range (not its DeleteRange) takes as from-key, like "\x00" (Go sees a non-nil slice). */
  rangeEnd(key: Buffer): Buffer | undefined {
    return this.r.weighted<() => Buffer | undefined>([
      [() => undefined, 52],
      [() => Buffer.alloc(0), 3],
      [() => latin1('\x00'), 12],
      [() => prefixEnd(key), 12],
      [() => this.r.pick(KEYS), 15],
      [() => key, 3],
      [() => latin1('\xff\xff\xff'), 3],
    ])();
  }

  value(inTxn = false): Buffer {
    return this.r.weighted<() => Buffer>([
      [() => this.r.pick(VALUES), 50],
      [() => latin1(`v${this.r.int(0, 999)}`), 40],
      [() => Buffer.from(Array.from({ length: this.r.int(0, 40) }, () => this.r.int(0, 255))), 8],
      [() => this.big(), inTxn ? 0.25 : 0.8],
    ])();
  }

  /** A revision for a Range, a watch or a compaction: 0, past, current, compacted, future, negative. */
  revision(): number | string {
    const { revision: cur, compacted } = this.st;
    return this.r.weighted<() => number | string>([
      [() => 0, 35],
      [() => cur, 10],
      [() => Math.max(1, cur - this.r.int(1, 8)), 20],
      [() => this.r.int(1, Math.max(1, cur)), 8],
      [() => compacted, 4],
      [() => Math.max(0, compacted - 1), 2],
      [() => compacted + 1, 2],
      [() => cur + 1, 5],
      [() => cur + this.r.int(2, 100), 3],
      [() => -1, 3],
      [() => -this.r.int(2, 1000), 1],
      [() => '9223372036854775807', 0.5],
    ])();
  }

  /** A lease for a put or a compare: none most often, one granted, one never granted. */
  lease(): number | string | AutoLease {
    const explicit = [...this.st.liveExplicit];
    const auto = [...this.st.liveAuto];
    return this.r.weighted<() => number | string | AutoLease>([
      [() => 0, 70],
      [() => (explicit.length > 0 ? this.r.pick(explicit) : this.r.pick(EXPLICIT_LEASE_IDS)), 10],
      [() => (auto.length > 0 ? new AutoLease(this.r.pick(auto)) : 0), 12],
      [() => (this.st.autoSlots > 0 ? new AutoLease(this.r.int(0, this.st.autoSlots - 1)) : 0), 2],
      [() => this.r.pick(EXPLICIT_LEASE_IDS), 3],
      [() => this.r.pick([5, 123456789, -1]), 3],
    ])();
  }

  /** An enum value: mostly one of `valid`, sometimes a number outside the enum (sent raw). */
  enumValue(valid: number, invalid: number[], pInvalid = 0.04): number {
    return this.r.chance(pInvalid) ? this.r.pick(invalid) : this.r.int(0, valid - 1);
  }
}

/** etcd 3.4 fragments a watch response (of a watcher with fragment set) at 2 MiB
 *  (--max-request-bytes + 512 KiB); its size also counts the header's member and cluster IDs and
 *  lease IDs, varints whose lengths differ between servers. So a value for "two events in one
 *  response" stays 1000 bytes clear of half of it: the two come out clearly below or above. */
export function halfWatchLimit(r: Prng): number {
  return GRPC_RECV_LIMIT / 2 + r.pick([-1000, 1000]);
}

export function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff (or empty): no prefix end; etcd's clients use "\0" (every key from `key` on).
  return latin1('\x00');
}
