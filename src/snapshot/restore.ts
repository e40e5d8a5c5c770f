// `etcd-ts snapshot restore` and `snapshot status`: an etcd snapshot file (saved from etcd with
// `etcdctl snapshot save`, or from etcd-ts) into an etcd-ts data dir, and the file's summary as
// etcdctl prints it. What a restore keeps, as etcdctl's (clientv3/snapshot/v3_snapshot.go):
// every row of the `key` bucket (so the same keys, values, revisions and versions), the compacted
// revision from `meta`, the leases of `lease`, the alarms of `alarm`, the downgrade record of
// `cluster`, and the auth state of `auth`, `authUsers` and `authRoles` (users keep their bcrypt
// hashes, so their passwords still work; etcdutl 3.5 trims only the members buckets); the members
// come from the flags as a new
// cluster (the file's members buckets are ignored), and Raft starts afresh.
// Never half-written: the trailer is checked first, the data dir is built in a temp dir beside
// the target and renamed into place only when complete (removed on any failure), and an existing
// data dir is refused.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AlarmStore } from '../alarm/alarm-store';
import { AuthStore } from '../auth/auth-store';
import { authBucketsFrom } from '../auth/auth-tables';
import { Backend } from '../backend/backend';
import { Lessor } from '../lease/lessor';
import { parseDowngradeInfo, parseSemver, type DowngradeInfo } from '../membership/downgrade';
import { Membership } from '../membership/membership';
import { storageKey } from '../mvcc/key-codec';
import { encodeRecord, type KeyValue } from '../mvcc/kv-record';
import { RecordKind, type SnapshotRecord } from '../mvcc/snapshot';
import { MvccStore } from '../mvcc/store';
import { completeConfig } from '../server/config';
import { BboltFormatError } from './bbolt-format';
import { BboltReader } from './bbolt-reader';
import { readProtoFields, varintField } from './etcd-layout';
import { SnapshotFileError, verifySnapshotFile } from './snapshot-file';

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

export interface RestoreOptions {
  snapshotPath: string;
  dataDir: string;
  name: string;
  initialCluster: string;
  initialClusterToken: string;
  initialAdvertisePeerUrls: string[];
  skipHashCheck: boolean;
}

export interface RestoreResult {
  revision: number;
  compacted: number;
  /** Rows of the key bucket (key versions, tombstones included). */
  versions: number;
  leases: number;
}

const TOMBSTONE_MARK = 0x74; // 't'

/** Restores a snapshot file into a new etcd-ts data dir (see the header). */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoreResult> {
  if (existsSync(o.dataDir)) throw new RestoreError(`data-dir ${JSON.stringify(o.dataDir)} exists`);
  if (!existsSync(o.snapshotPath)) throw new RestoreError(`open ${o.snapshotPath}: no such file or directory`);
  try {
    verifySnapshotFile(o.snapshotPath, { skipHashCheck: o.skipHashCheck });
  } catch (err) {
    throw new RestoreError(err instanceof Error ? err.message : String(err));
  }
  const reader = openReader(o.snapshotPath);
  const tmp = join(dirname(o.dataDir), `.${basename(o.dataDir)}.restore-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let backend: Backend | undefined;
  try {
    backend = new Backend({ dir: join(tmp, 'member', 'lmdb') });
    const config = completeConfig({
      name: o.name,
      dataDir: o.dataDir,
      initialCluster: o.initialCluster,
      initialClusterToken: o.initialClusterToken,
      initialAdvertisePeerUrls: o.initialAdvertisePeerUrls,
    });
    // A new cluster from the flags (stored by the constructor), as etcdctl's restore does.
    const membership = new Membership(backend, config);
    const mvcc = new MvccStore(backend);
    const lessor = new Lessor(backend, 1);
    const alarms = new AlarmStore(backend);
    const compacted = readCompacted(reader);
    const leases = readLeases(reader);
    const alarmJson = readAlarms(reader);
    const downgrade = readDowngrade(reader);
    const auth = authBucketsFrom((name) => reader.bucket(name)?.entries());
    const authStore = new AuthStore(backend);
    const b = backend;
    const result = b.transaction((): RestoreResult => {
      const counted = { versions: 0, lastMain: 0 };
      mvcc.importState(keyRecords(reader, counted), 1, compacted);
      // etcd's restore: the revision is the newest row's, or the compacted one if that is newer
      // (a compaction at a delete's revision leaves no row at it).
      const revision = Math.max(counted.lastMain, compacted, 1);
      mvcc.setRevision(revision);
      mvcc.rebuildCurrent();
      lessor.importState(leases, mvcc.liveLeases());
      alarms.restore(alarmJson);
      if (downgrade !== undefined) membership.setDowngradeInfo(downgrade);
      authStore.restoreBuckets(auth);
      return { revision, compacted, versions: counted.versions, leases: leases.length };
    });
    await b.close();
    backend = undefined;
    renameSync(tmp, o.dataDir);
    return result;
  } catch (err) {
    await backend?.close().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
    throw err instanceof RestoreError ? err : new RestoreError(err instanceof Error ? err.message : String(err));
  } finally {
    reader.close();
  }
}

function openReader(path: string): BboltReader {
  try {
    return BboltReader.open(path);
  } catch (err) {
    const why = err instanceof BboltFormatError || err instanceof SnapshotFileError || err instanceof Error ? err.message : String(err);
    throw new RestoreError(`snapshot ${path} is not a bbolt database: ${why}`);
  }
}

/** meta's scheduledCompactRev (the compaction etcd announced; deletion may still have been running). */
function readCompacted(reader: BboltReader): number {
  const meta = reader.bucket('meta');
  if (meta === undefined) return -1;
  for (const [k, v] of meta.entries()) {
    if (k.toString() === 'scheduledCompactRev' && v.length >= 8) return Number(v.readBigUInt64BE(0));
  }
  return -1;
}

function readLeases(reader: BboltReader): [string, number][] {
  const bucket = reader.bucket('lease');
  if (bucket === undefined) return [];
  const out: [string, number][] = [];
  for (const [, v] of bucket.entries()) {
    const f = readProtoFields(v);
    const id = BigInt.asIntN(64, varintField(f, 1));
    out.push([id.toString(), Number(BigInt.asIntN(64, varintField(f, 2)))]);
  }
  return out;
}

function readAlarms(reader: BboltReader): string {
  const bucket = reader.bucket('alarm');
  if (bucket === undefined) return '[]';
  const out: { member: string; alarm: number }[] = [];
  for (const [k] of bucket.entries()) {
    const f = readProtoFields(k);
    out.push({ member: BigInt.asUintN(64, varintField(f, 1)).toString(), alarm: Number(varintField(f, 2)) });
  }
  return JSON.stringify(out);
}

/**
 * cluster's "downgrade" (etcd 3.5 and later; absent before): refused when etcd would refuse to
 * load it (not its JSON, or enabled with a target that is no version).
 */
function readDowngrade(reader: BboltReader): DowngradeInfo | undefined {
  const bucket = reader.bucket('cluster');
  if (bucket === undefined) return undefined;
  for (const [k, v] of bucket.entries()) {
    if (k.toString() !== 'downgrade') continue;
    let d: DowngradeInfo | undefined;
    try {
      d = parseDowngradeInfo(JSON.parse(v.toString('utf8')));
    } catch {
      d = undefined;
    }
    if (d === undefined || (d.enabled && parseSemver(d.targetVersion) === undefined)) {
      throw new RestoreError(`cluster bucket: bad downgrade record ${JSON.stringify(v.toString('utf8'))}`);
    }
    return d;
  }
  return undefined;
}

/** The key bucket as history and index records (the current table is rebuilt from them after). */
function* keyRecords(reader: BboltReader, counted: { versions: number; lastMain: number }): Generator<SnapshotRecord> {
  const bucket = reader.bucket('key');
  if (bucket === undefined) return;
  for (const [k, v] of bucket.entries()) {
    if ((k.length !== 17 && k.length !== 18) || k[8] !== 0x5f) throw new RestoreError(`key bucket: bad revision key ${k.toString('hex')}`);
    const main = Number(k.readBigUInt64BE(0));
    const sub = Number(k.readBigUInt64BE(9));
    const tombstone = k.length === 18 && k[17] === TOMBSTONE_MARK;
    const kv = decodeKeyValue(v);
    const record = tombstone
      ? encodeRecord({ key: kv.key, value: Buffer.alloc(0), lease: 0n, create_revision: 0, mod_revision: main, version: 0 }, true)
      : encodeRecord(kv, false);
    counted.versions++;
    counted.lastMain = Math.max(counted.lastMain, main);
    yield { kind: RecordKind.History, main, sub, value: record };
    yield { kind: RecordKind.Index, key: storageKey(kv.key), main, sub, tombstone: tombstone ? 1 : 0 };
  }
}

/** mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6. */
export function decodeKeyValue(buf: Buffer): KeyValue {
  const f = readProtoFields(buf);
  const bytes = (n: number): Buffer => {
    const v = f.get(n);
    return Buffer.isBuffer(v) ? v : Buffer.alloc(0);
  };
  return {
    key: bytes(1),
    create_revision: Number(varintField(f, 2)),
    mod_revision: Number(varintField(f, 3)),
    version: Number(varintField(f, 4)),
    value: bytes(5),
    lease: BigInt.asIntN(64, varintField(f, 6)),
  };
}
