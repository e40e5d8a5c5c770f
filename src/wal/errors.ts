// The WAL's errors. A corrupt log stops the member: raft must never start from a log that lost
// acknowledged entries, so a damaged record is reported with its file and offset, never skipped.

/** The log on disk cannot be trusted: a bad record before the tail, a gap in segment numbers. */
export class WalCorruptError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
  ) {
    super(`wal: corrupt segment ${file} at offset ${offset}: ${reason}`);
    this.name = 'WalCorruptError';
  }
}

/** A write or sync failed earlier (or the WAL was closed): nothing more can be made durable. */
export class WalUnusableError extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`wal: unusable: ${reason}`, options);
    this.name = 'WalUnusableError';
  }
}
