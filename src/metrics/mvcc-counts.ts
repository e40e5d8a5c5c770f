// etcd's mvcc operation counters (etcd_mvcc_{range,put,delete,txn}_total), bumped where the apply
// code and the read path run them. Process-wide, as etcd's are package-level: members started in
// one process (tests only) share them. Plain numbers so that counting costs an increment.
export interface MvccOpCounts {
  /** Ranges read: Range requests, a txn's range ops and compares, prev_kv reads of a put. */
  range: number;
  put: number;
  delete: number;
  /** Transactions of more than one of the above (etcd's metricsTxnWrite.End). */
  txn: number;
}

export const mvccOps: MvccOpCounts = { range: 0, put: 0, delete: 0, txn: 0 };

/** The ranges + puts + deletes counted so far (a txn compares it before and after). */
export function mvccOpSum(): number {
  return mvccOps.range + mvccOps.put + mvccOps.delete;
}
