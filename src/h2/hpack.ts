// HPACK header compression (RFC 7541) for the HTTP/2 server: one decoder per connection for the
// peer's header blocks, one encoder per connection for ours. Names and values are octets carried
// as 'latin1' strings (one char per octet), so every byte round-trips and a string's length is
// its size in octets, which is what the dynamic table and SETTINGS_MAX_HEADER_LIST_SIZE count.
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman';

export type HeaderField = [name: string, value: string];

/** Any decoding error. The connection answers it with COMPRESSION_ERROR. */
export class HpackError extends Error {}

/** Per-entry overhead in the dynamic table's size accounting (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;
/** The protocol's initial SETTINGS_HEADER_TABLE_SIZE. */
const DEFAULT_TABLE_SIZE = 4096;
/** Integers above this are refused: no index, length or table size legitimately comes close. */
const MAX_INTEGER = 0x7fffffff;

// Fields handed out by the decoder are shared with its tables (no copy per indexed field), so
// they are frozen: a caller that tried to edit one would otherwise corrupt later requests.
const field = (name: string, value: string): HeaderField => Object.freeze([name, value]) as HeaderField;
const EMPTY_FIELD = field('', '');
const NO_BYTES = Buffer.alloc(0);

/** RFC 7541 Appendix A; STATIC_TABLE[i - 1] is index i. */
const STATIC_TABLE: readonly HeaderField[] = (
  [
    [':authority', ''],
    [':method', 'GET'],
    [':method', 'POST'],
    [':path', '/'],
    [':path', '/index.html'],
    [':scheme', 'http'],
    [':scheme', 'https'],
    [':status', '200'],
    [':status', '204'],
    [':status', '206'],
    [':status', '304'],
    [':status', '400'],
    [':status', '404'],
    [':status', '500'],
    ['accept-charset', ''],
    ['accept-encoding', 'gzip, deflate'],
    ['accept-language', ''],
    ['accept-ranges', ''],
    ['accept', ''],
    ['access-control-allow-origin', ''],
    ['age', ''],
    ['allow', ''],
    ['authorization', ''],
    ['cache-control', ''],
    ['content-disposition', ''],
    ['content-encoding', ''],
    ['content-language', ''],
    ['content-length', ''],
    ['content-location', ''],
    ['content-range', ''],
    ['content-type', ''],
    ['cookie', ''],
    ['date', ''],
    ['etag', ''],
    ['expect', ''],
    ['expires', ''],
    ['from', ''],
    ['host', ''],
    ['if-match', ''],
    ['if-modified-since', ''],
    ['if-none-match', ''],
    ['if-range', ''],
    ['if-unmodified-since', ''],
    ['last-modified', ''],
    ['link', ''],
    ['location', ''],
    ['max-forwards', ''],
    ['proxy-authenticate', ''],
    ['proxy-authorization', ''],
    ['range', ''],
    ['referer', ''],
    ['refresh', ''],
    ['retry-after', ''],
    ['server', ''],
    ['set-cookie', ''],
    ['strict-transport-security', ''],
    ['transfer-encoding', ''],
    ['user-agent', ''],
    ['vary', ''],
    ['via', ''],
    ['www-authenticate', ''],
  ] as const
).map(([n, v]) => field(n, v));
const STATIC_COUNT = STATIC_TABLE.length;

const entryBytes = (f: HeaderField): number => f[0].length + f[1].length + ENTRY_OVERHEAD;

/**
 * The dynamic table (RFC 7541 2.3.2, 4): a FIFO bounded by the octet size of its entries, kept
 * in a power-of-two ring so adding and evicting never shift the other entries.
 */
class HeaderTable {
  private ring: HeaderField[] = new Array<HeaderField>(16).fill(EMPTY_FIELD);
  private head = 0; // slot of the newest entry
  count = 0;
  size = 0;
  /** Entries ever added: the encoder numbers entries by this to find their current index. */
  added = 0;
  /** Called with each entry evicted and the number it was added under. */
  onEvict: ((f: HeaderField, seq: number) => void) | undefined;

  constructor(public capacity: number) {}

  /** Entry `i`, 1 being the newest; the caller checks 1 <= i <= count. */
  get(i: number): HeaderField {
    return this.ring[(this.head + i - 1) & (this.ring.length - 1)];
  }

  add(f: HeaderField): void {
    const bytes = entryBytes(f);
    // An entry larger than the whole table empties it and is not added (4.4).
    while (this.count > 0 && this.size + bytes > this.capacity) this.evictOldest();
    if (bytes > this.capacity) return;
    if (this.count === this.ring.length) this.grow();
    this.head = (this.head - 1) & (this.ring.length - 1);
    this.ring[this.head] = f;
    this.count++;
    this.size += bytes;
    this.added++;
  }

  resize(capacity: number): void {
    this.capacity = capacity;
    while (this.size > capacity) this.evictOldest();
  }

  /** Entries newest first (copies), for tests and debugging. */
  entries(): HeaderField[] {
    const out: HeaderField[] = [];
    for (let i = 1; i <= this.count; i++) out.push([this.get(i)[0], this.get(i)[1]]);
    return out;
  }

  private evictOldest(): void {
    const slot = (this.head + this.count - 1) & (this.ring.length - 1);
    const f = this.ring[slot];
    this.ring[slot] = EMPTY_FIELD;
    this.count--;
    this.size -= entryBytes(f);
    this.onEvict?.(f, this.added - this.count - 1);
  }

  private grow(): void {
    const next = new Array<HeaderField>(this.ring.length * 2).fill(EMPTY_FIELD);
    for (let i = 0; i < this.count; i++) next[i] = this.get(i + 1);
    this.ring = next;
    this.head = 0;
  }
}

export class HpackDecoder {
  private readonly table: HeaderTable;
  // The block being decoded and the read position in it; fields so the small readers below
  // can advance it without returning pairs.
  private buf: Buffer = NO_BYTES;
  private pos = 0;

  /**
   * `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE we advertise. The table starts at that size and
   * size updates may not exceed it. (Advertising less than 4096 races with blocks the peer encodes
   * before it sees our SETTINGS, which assume 4096; the default avoids that.)
   */
  constructor(private readonly maxTableSize = DEFAULT_TABLE_SIZE) {
    this.table = new HeaderTable(maxTableSize);
  }

  /** Octets in the dynamic table, as RFC 7541 counts them. */
  get tableSize(): number {
    return this.table.size;
  }

  /** The dynamic table's entries, newest (index 62) first. */
  tableEntries(): HeaderField[] {
    return this.table.entries();
  }

  /**
   * Decodes one complete header block (a HEADERS payload and its CONTINUATIONs, concatenated).
   * `maxListBytes` bounds the decoded list, counted as SETTINGS_MAX_HEADER_LIST_SIZE counts it.
   * The returned fields are frozen and may be shared with the decoder's tables. Throws HpackError;
   * after one, the decoder's state is unspecified (the connection must be torn down).
   */
  decode(block: Buffer, maxListBytes = Infinity): HeaderField[] {
    const out: HeaderField[] = [];
    let listBytes = 0;
    this.buf = block;
    this.pos = 0;
    try {
      while (this.pos < block.length) {
        const first = block[this.pos];
        let f: HeaderField;
        if (first >= 0x80) {
          f = this.indexed(this.readInt(7)); // 1xxxxxxx indexed field
        } else if (first >= 0x40) {
          f = this.literal(6); // 01xxxxxx literal with incremental indexing
          this.table.add(f);
        } else if (first >= 0x20) {
          // 001xxxxx dynamic table size update: only before the first field (4.2).
          if (out.length > 0) throw new HpackError('dynamic table size update after a header field');
          const size = this.readInt(5);
          if (size > this.maxTableSize) throw new HpackError(`dynamic table size update to ${size} above ${this.maxTableSize}`);
          this.table.resize(size);
          continue;
        } else {
          f = this.literal(4); // 0000xxxx without indexing, 0001xxxx never indexed
        }
        listBytes += entryBytes(f);
        if (listBytes > maxListBytes) throw new HpackError(`header list larger than ${maxListBytes} bytes`);
        out.push(f);
      }
    } finally {
      this.buf = NO_BYTES; // don't keep the connection's last block alive
    }
    return out;
  }

  private indexed(index: number): HeaderField {
    if (index === 0) throw new HpackError('header field index 0');
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1];
    if (index - STATIC_COUNT > this.table.count) throw new HpackError(`header field index ${index} past the table`);
    return this.table.get(index - STATIC_COUNT);
  }

  private literal(prefixBits: number): HeaderField {
    const nameIndex = this.readInt(prefixBits);
    const name = nameIndex === 0 ? this.readString() : this.indexed(nameIndex)[0];
    return field(name, this.readString());
  }

  /** An integer with an N-bit prefix (5.1), starting in the current octet's low bits. */
  private readInt(prefixBits: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= buf.length) throw new HpackError('header block truncated');
    const max = (1 << prefixBits) - 1;
    let value = buf[pos++] & max;
    if (value === max) {
      // Up to 5 continuation octets (35 bits) are read; the result must still fit 31 bits.
      let scale = 1;
      let octet: number;
      do {
        if (pos >= buf.length) throw new HpackError('header block truncated in an integer');
        if (scale > 2 ** 28) throw new HpackError('integer too long');
        octet = buf[pos++];
        value += (octet & 0x7f) * scale;
        scale *= 128;
      } while (octet >= 0x80);
      if (value > MAX_INTEGER) throw new HpackError('integer too large');
    }
    this.pos = pos;
    return value;
  }

  /** A string literal (5.2): Huffman flag, 7-bit-prefix length, octets. */
  private readString(): string {
    const huffman = this.pos < this.buf.length && this.buf[this.pos] >= 0x80;
    const length = this.readInt(7);
    const start = this.pos;
    const end = start + length;
    if (end > this.buf.length) throw new HpackError('header block truncated in a string');
    this.pos = end;
    if (!huffman) return this.buf.toString('latin1', start, end);
    const s = huffmanDecode(this.buf, start, end);
    if (s === null) throw new HpackError('invalid Huffman-coded string');
    return s;
  }
}

// ---- encoder ----

/**
 * The most dynamic table we keep for the peer, whatever larger size it allows: 4 KiB holds a
 * gRPC server's recurring response fields many times over, and bounds memory per connection.
 */
const ENCODER_TABLE_LIMIT = DEFAULT_TABLE_SIZE;
/** Sent "never indexed" (6.2.3): credentials (etcd's auth token travels as `token`) that no hop should index. */
const NEVER_INDEXED = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'token']);
/**
 * Sent without indexing: values that rarely repeat, so an entry would only evict useful ones.
 * (grpc-message is indexed: etcd's error texts are a small fixed set.)
 */
const NOT_INDEXED = new Set(['content-length', 'date', 'etag', 'last-modified', 'age', 'expires', 'grpc-timeout', 'grpc-status-details-bin']);

interface StaticName {
  index: number; // first static entry with this name
  values: Map<string, number>; // value -> static index
}

const STATIC_BY_NAME = new Map<string, StaticName>();
STATIC_TABLE.forEach(([name, value], i) => {
  let e = STATIC_BY_NAME.get(name);
  if (e === undefined) STATIC_BY_NAME.set(name, (e = { index: i + 1, values: new Map() }));
  if (!e.values.has(value)) e.values.set(value, i + 1);
});

/**
 * Encodes our header blocks. It indexes recurring fields (status, content-type, grpc-status...)
 * in a dynamic table that mirrors the peer decoder's, so every block it returns must be sent,
 * and in the order encode() produced them: one skipped or reordered block desynchronises the
 * peer's table (the same holds for the size updates setMaxTableSize schedules).
 */
export class HpackEncoder {
  private readonly table = new HeaderTable(ENCODER_TABLE_LIMIT);
  /** name -> value -> number the entry was added under (HeaderTable.added), for live entries. */
  private readonly dynamic = new Map<string, Map<string, number>>();
  private peerMax = DEFAULT_TABLE_SIZE;
  /** The lowest setting received since the last block's size updates. */
  private lowestSinceLastBlock = Infinity;
  private sizeChanged = false;
  private buf = Buffer.allocUnsafe(512);
  private pos = 0;

  constructor() {
    this.table.onEvict = (f, seq) => {
      const values = this.dynamic.get(f[0]);
      if (values?.get(f[1]) !== seq) return;
      values.delete(f[1]);
      if (values.size === 0) this.dynamic.delete(f[0]);
    };
  }

  get tableSize(): number {
    return this.table.size;
  }

  tableEntries(): HeaderField[] {
    return this.table.entries();
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed (call when its SETTINGS arrive). The next block
   * starts with size updates: a decoder whose limit was lowered requires one (nghttp2 treats a
   * block without it as a COMPRESSION_ERROR), and after several changes the lowest value must be
   * signalled before the final one (RFC 7541 4.2).
   */
  setMaxTableSize(n: number): void {
    if (n === this.peerMax) return;
    this.peerMax = n;
    this.lowestSinceLastBlock = Math.min(this.lowestSinceLastBlock, n);
    this.sizeChanged = true;
  }

  /**
   * Encodes a header list into one header block. Names must already be lowercase; names and
   * values are octet strings ('latin1'), so a char above U+00FF would lose its high byte.
   */
  encode(fields: readonly HeaderField[]): Buffer {
    this.pos = 0;
    if (this.sizeChanged) this.writeSizeUpdates();
    for (let i = 0; i < fields.length; i++) this.writeField(fields[i][0], fields[i][1]);
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    if (this.buf.length > 16384) this.buf = Buffer.allocUnsafe(512); // after one huge block
    return out;
  }

  private writeSizeUpdates(): void {
    const lowest = Math.min(this.lowestSinceLastBlock, ENCODER_TABLE_LIMIT);
    const target = Math.min(this.peerMax, ENCODER_TABLE_LIMIT);
    this.ensure(12);
    if (lowest < target) {
      this.writeInt(0x20, 5, lowest);
      this.table.resize(lowest);
    }
    this.writeInt(0x20, 5, target);
    this.table.resize(target);
    this.lowestSinceLastBlock = Infinity;
    this.sizeChanged = false;
  }

  private writeField(name: string, value: string): void {
    // Three integers of at most 5 octets, and the two strings, raw at worst.
    this.ensure(15 + name.length + value.length);
    const st = STATIC_BY_NAME.get(name);
    const staticIndex = st?.values.get(value);
    if (staticIndex !== undefined) return this.writeInt(0x80, 7, staticIndex);
    const seq = this.dynamic.get(name)?.get(value);
    if (seq !== undefined) return this.writeInt(0x80, 7, STATIC_COUNT + this.table.added - seq);

    const nameIndex = st === undefined ? 0 : st.index;
    const bytes = name.length + value.length + ENTRY_OVERHEAD;
    if (NEVER_INDEXED.has(name)) {
      this.writeInt(0x10, 4, nameIndex);
    } else if (bytes <= this.table.capacity >>> 1 && !NOT_INDEXED.has(name)) {
      // Entries up to half the table: a larger one would evict most of what is worth keeping.
      this.writeInt(0x40, 6, nameIndex);
      this.table.add(field(name, value));
      let values = this.dynamic.get(name);
      if (values === undefined) this.dynamic.set(name, (values = new Map()));
      values.set(value, this.table.added - 1);
    } else {
      this.writeInt(0x00, 4, nameIndex);
    }
    if (nameIndex === 0) this.writeString(name);
    this.writeString(value);
  }

  /** Huffman-coded only when strictly shorter, as RFC 7541 leaves the choice to the encoder. */
  private writeString(s: string): void {
    const coded = huffmanEncodedLength(s);
    if (coded < s.length) {
      this.writeInt(0x80, 7, coded);
      this.pos = huffmanEncode(s, this.buf, this.pos);
    } else {
      this.writeInt(0x00, 7, s.length);
      this.pos += this.buf.write(s, this.pos, 'latin1');
    }
  }

  private writeInt(first: number, prefixBits: number, value: number): void {
    const buf = this.buf;
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      buf[this.pos++] = first | value;
      return;
    }
    buf[this.pos++] = first | max;
    value -= max;
    while (value >= 0x80) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[this.pos++] = value;
  }

  private ensure(room: number): void {
    if (this.pos + room <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + room));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
