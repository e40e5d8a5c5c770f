// etcd (Go) tells a bytes field sent empty from one not sent: the first decodes to a non-nil empty
// slice. For a range_end that difference is "every key from key on" against "this one key", and it
// survives only where etcd serves the request without a raft round trip (its raft entry encoding
// drops empty fields): a top-level Range (see fast-codec's decodeRangeRequest) and a read-only Txn,
// whose compares and range ops read an empty range_end sent on the wire as from-key. protobufjs
// decodes both cases to an empty Buffer, so this scans the request's wire bytes for the ones sent.
import * as protobuf from 'protobufjs/light';
import { FROM_KEY } from './fast-codec';
import type { RequestOp, TxnRequest } from './types';

const LEN = 2;

/** Calls `each(fieldNumber, reader)` for every field; `each` reads a LEN field or returns false to skip it. */
function fields(buf: Uint8Array, each: (field: number, r: protobuf.Reader) => boolean): void {
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if ((tag & 7) !== LEN || !each(tag >>> 3, r)) r.skipType(tag & 7);
  }
}

/** Whether the last `field` in the message `buf` is present and empty (the last one is what a decoder keeps). */
function lastSentEmpty(buf: Uint8Array, field: number): boolean {
  let empty = false;
  fields(buf, (f, r) => {
    if (f !== field) return false;
    empty = r.bytes().length === 0;
    return true;
  });
  return empty;
}

/** `raw` is the wire form of `t`; sets each top-level compare's and range op's range_end sent empty to from-key. */
export function markFromKeyEnds(raw: Buffer, t: TxnRequest): void {
  let compare = 0;
  const ops: Record<2 | 3, { list: RequestOp[]; at: number }> = { 2: { list: t.success, at: 0 }, 3: { list: t.failure, at: 0 } };
  fields(raw, (f, r) => {
    if (f === 1) {
      const c = t.compare[compare++];
      if (lastSentEmpty(r.bytes(), 64) && c !== undefined) c.range_end = FROM_KEY;
      return true;
    }
    if (f !== 2 && f !== 3) return false;
    const branch = ops[f];
    const op = branch.list[branch.at++];
    const range = op?.request_range;
    if (range === undefined) return false;
    let empty = false;
    fields(r.bytes(), (g, rr) => {
      if (g !== 1) return false;
      empty = lastSentEmpty(rr.bytes(), 2);
      return true;
    });
    if (empty) range.range_end = FROM_KEY;
    return true;
  });
}
