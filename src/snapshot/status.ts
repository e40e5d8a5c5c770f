// `etcd-ts snapshot status FILE`: what `etcdctl snapshot status` reports of a snapshot file, in
// its three formats. As etcd 3.4's clientv3/snapshot Status: hash = crc32-Castagnoli over every
// top-level bucket's name and then its keys and values, in bbolt order; revision = main revision
// of the last row of the `key` bucket; totalKey = rows of all buckets; totalSize = the bbolt
// database's size (pgid * pageSize, the trailer not counted). Reads page by page; never writes.
import { crc32c } from '../mvcc/hash';
import { BboltReader } from './bbolt-reader';

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

export function snapshotStatus(path: string): SnapshotStatus {
  const reader = BboltReader.open(path);
  try {
    let hash = 0;
    let revision = 0;
    let totalKey = 0;
    for (const name of reader.bucketNames()) {
      hash = crc32c(name, hash);
      const isKey = name.toString() === 'key';
      for (const [k, v] of reader.entries(name)) {
        hash = crc32c(k, hash);
        hash = crc32c(v, hash);
        if (isKey && k.length >= 8) revision = Number(k.readBigUInt64BE(0));
        totalKey++;
      }
    }
    return { hash, revision, totalKey, totalSize: reader.sizeBytes };
  } finally {
    reader.close();
  }
}

/** go-humanize's Bytes (SI units), as etcdctl prints sizes. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${sizes[e]}`;
}

/** etcdctl's printers for DBStatus: simple (default), json and table. */
export function formatStatus(s: SnapshotStatus, format: string): string {
  const row = [s.hash.toString(16), String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)];
  if (format === 'json') return `${JSON.stringify({ hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize })}\n`;
  if (format === 'table') {
    const hdr = ['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'];
    const w = hdr.map((h, i) => Math.max(h.length, row[i].length));
    const line = `+${w.map((n) => '-'.repeat(n + 2)).join('+')}+\n`;
    // tablewriter centres headers and right-aligns every cell here.
    const centre = (t: string, n: number): string => {
      const left = Math.floor((n - t.length) / 2);
      return ' '.repeat(left) + t + ' '.repeat(n - t.length - left);
    };
    const cells = row.map((c, i) => c.padStart(w[i]));
    return `${line}| ${hdr.map((h, i) => centre(h, w[i])).join(' | ')} |\n${line}| ${cells.join(' | ')} |\n${line}`;
  }
  return `${row.join(', ')}\n`;
}
