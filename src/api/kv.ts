// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact — etcd's request checks, then the
// member's typed call, then the header.
import { isReadOnly } from '../apply/txn';
import { markFromKeyEnds } from '../pb/from-key-ends';
import { rawRequestBytes } from '../pb/load';
import type * as pb from '../pb/types';
import { withHeader, type Unary } from './handler';
import type { MemberApi } from './member-api';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from './validate';

export interface KvHandlers {
  Range: Unary<pb.RangeRequest, pb.RangeResponse>;
  Put: Unary<pb.PutRequest, pb.PutResponse>;
  DeleteRange: Unary<pb.DeleteRangeRequest, pb.DeleteRangeResponse>;
  Txn: Unary<pb.TxnRequest, pb.TxnResponse>;
  Compact: Unary<pb.CompactionRequest, pb.CompactionResponse>;
}

export function kvHandlers(member: MemberApi): KvHandlers {
  return {
    Range: async (req, ctx) => {
      checkRange(req);
      return withHeader(member, await member.range(req, ctx));
    },
    // The hot writes (Put, Txn): then() instead of an async function saves a promise and a frame per call.
    Put: (req, ctx) => {
      checkPut(req);
      return member.put(req, ctx).then((resp) => withHeader(member, resp));
    },
    DeleteRange: async (req, ctx) => {
      checkDeleteRange(req);
      return withHeader(member, await member.deleteRange(req, ctx));
    },
    Txn: (req, ctx) => {
      checkTxn(req, member.maxTxnOps);
      if (isReadOnly(req)) {
        // Served from the decoded request, not its bytes: an empty range_end must be told
        // from an absent one here (see from-key-ends.ts).
        const raw = rawRequestBytes.get(req);
        if (raw !== undefined) markFromKeyEnds(raw, req);
      }
      return member.txn(req, ctx).then((resp) => withHeader(member, resp));
    },
    Compact: async (req, ctx) => withHeader(member, await member.compact(req, ctx)),
  };
}
