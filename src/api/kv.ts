// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { isReadOnly, isSerializable } from '../apply/txn';
import { markFromKeyEnds } from '../pb/from-key-ends';
import { rawRequestBytes } from '../pb/load';
import type { CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from '../pb/types';
import { unary } from './errors';
import type { EtcdServerApi } from './server-api';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from './validate';

type WithHeader = { header?: { revision?: number | string } };

export function kvService(server: EtcdServerApi, log: Logger): grpc.UntypedServiceImplementation {
  /** etcd's header: the apply result's revision plus this member's IDs and term. */
  const withHeader = <T extends WithHeader>(resp: T): T => {
    const rev = resp.header?.revision;
    resp.header = server.header(rev === undefined ? undefined : Number(rev));
    return resp;
  };
  return {
    Range: unary(async (req: RangeRequest) => {
      checkRange(req);
      return withHeader(await server.range(req));
    }, log, server),
    Put: unary(async (req: PutRequest) => {
      checkPut(req);
      return withHeader((await server.propose({ put: req })) as WithHeader);
    }, log, server),
    DeleteRange: unary(async (req: DeleteRangeRequest) => {
      checkDeleteRange(req);
      return withHeader((await server.propose({ delete_range: req })) as WithHeader);
    }, log, server),
    Txn: unary(async (req: TxnRequest) => {
      checkTxn(req, server.maxTxnOps);
      if (isReadOnly(req)) {
        const raw = rawRequestBytes.get(req);
        if (raw !== undefined) markFromKeyEnds(raw, req);
        return withHeader(await server.readOnlyTxn(req, isSerializable(req)));
      }
      return withHeader((await server.propose({ txn: req })) as WithHeader);
    }, log, server),
    Compact: unary(async (req: CompactionRequest) => withHeader((await server.propose({ compaction: req })) as WithHeader), log, server),
  };
}
