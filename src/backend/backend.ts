// The one LMDB environment of a member. The Raft log and the MVCC state live in it side by side
// so that one write transaction (one fsync) can persist new log entries, apply committed ones and
// record the applied index together. This module knows LMDB; it knows nothing of what is stored.
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type BinaryDB = Database<Buffer, Buffer>;

/**
 * One consistent read snapshot of the whole environment that stays valid across event-loop turns
 * (for streaming a member's state to a peer while writes go on). Pass `transaction` to reads;
 * call done() when finished or the old pages are never reclaimed.
 */
export interface ReadView {
  readonly transaction: Transaction;
  done(): void;
}

export interface BackendOptions {
  dir: string;
  /** Initial map size; LMDB grows it on demand. */
  mapSizeBytes?: number;
}

export class Backend {
  readonly dir: string;
  private readonly env: RootDatabase;
  private readonly meta: Database<Buffer, string>;
  private inTransaction = false;

  constructor(options: BackendOptions) {
    this.dir = options.dir;
    mkdirSync(this.dir, { recursive: true });
    this.env = open({
      path: this.dir,
      mapSize: options.mapSizeBytes ?? 1024 * 1024 * 1024,
      maxDbs: 16,
      // A write must be on disk before the reply; transactionSync commits and fsyncs in place.
      overlappingSync: false,
      noMemInit: true,
    });
    this.meta = this.env.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' });
  }

  /** A sorted table of binary keys and binary values. */
  binaryTable(name: string, dupSort = false): BinaryDB {
    return this.env.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary', dupSort });
  }

  /** A table with order-preserving structured keys or values (numbers, arrays of numbers). */
  orderedTable<V, K extends string | number | Buffer | (string | number)[]>(
    name: string,
    options: { keys: 'binary' | 'ordered-binary'; values: 'binary' | 'ordered-binary'; dupSort?: boolean },
  ): Database<V, K> {
    return this.env.openDB<V, K>({ name, keyEncoding: options.keys, encoding: options.values, dupSort: options.dupSort ?? false });
  }

  /** Runs fn in one write transaction, committed and fsynced before it returns. */
  transaction<T>(fn: () => T): T {
    if (this.inTransaction) return fn();
    this.inTransaction = true;
    try {
      return this.env.transactionSync(fn);
    } finally {
      this.inTransaction = false;
    }
  }

  /**
   * Runs fn in a write transaction whose commit and fsync happen on LMDB's writer thread, so the
   * event loop keeps serving while the disk works. fn itself runs on this thread, inside the
   * transaction; reads outside fn see the previous state until the returned promise resolves,
   * by which time the transaction is on disk.
   */
  transactionAsync<T>(fn: () => T): Promise<T> {
    return this.env.transaction(() => {
      this.inTransaction = true;
      try {
        return fn();
      } finally {
        this.inTransaction = false;
      }
    });
  }

  /** Pins the current committed state for reads spread over time (see ReadView). */
  readView(): ReadView {
    const transaction = this.env.useReadTransaction();
    let open = true;
    return {
      transaction,
      done: () => {
        if (open) transaction.done();
        open = false;
      },
    };
  }

  /** Signed 64-bit big-endian (the compacted revision may be -1). */
  getMetaNumber(key: string, view?: ReadView): number | undefined {
    const v = this.meta.get(key, view === undefined ? undefined : { transaction: view.transaction });
    return v === undefined ? undefined : Number(v.readBigInt64BE(0));
  }

  putMetaNumber(key: string, value: number): void {
    const buf = Buffer.allocUnsafe(8);
    buf.writeBigInt64BE(BigInt(value));
    this.meta.putSync(key, buf);
  }

  getMetaBuffer(key: string, view?: ReadView): Buffer | undefined {
    return this.meta.get(key, view === undefined ? undefined : { transaction: view.transaction });
  }

  putMetaBuffer(key: string, value: Buffer): void {
    this.meta.putSync(key, value);
  }

  /** Size of the database file on disk (etcd's dbSize). */
  sizeBytes(): number {
    try {
      return statSync(join(this.dir, 'data.mdb')).size;
    } catch {
      return 0;
    }
  }

  /** Bytes of pages in use (etcd's dbSizeInUse). */
  sizeInUseBytes(): number {
    const stats = this.env.getStats() as { lastPageNumber?: number; treeDepth?: number; pageSize?: number; freelistEntries?: number };
    const pageSize = stats.pageSize ?? 4096;
    return Math.max(0, (stats.lastPageNumber ?? 0) + 1) * pageSize;
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
