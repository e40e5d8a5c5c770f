// Wire format of LeaseKeepAliveRequest {ID = 1} and LeaseKeepAliveResponse
// {header = 1, ID = 2, TTL = 3}, by hand: the keep-alive stream is the hot path
// of the lease load, both messages are tiny, and lease IDs are full int64s
// (beyond 2^53) that a generic decoder would turn into strings or Longs.

function varint(v: bigint): number[] {
  // Negative int64s are sent as their 64-bit two's complement (10 bytes).
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

/** Encoded LeaseKeepAliveRequest for a lease ID (decimal string); built once per lease, reused per send. */
export function encodeKeepAlive(id: string): Buffer {
  return Buffer.from([0x08, ...varint(BigInt(id))]);
}

export interface KeepAliveReply {
  id: bigint;
  ttl: bigint;
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, v);
    }
    throw new Error('varint too long');
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) {
      // Not `pos += varint()`: that would add to pos as it was before the length was read.
      const len = Number(this.varint());
      this.pos += len;
    }
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.pos > this.buf.length) throw new Error('truncated field');
  }
}

/** ID and TTL of a LeaseKeepAliveResponse; absent fields are 0 as in proto3. Throws on malformed input. */
export function decodeKeepAliveReply(buf: Buffer): KeepAliveReply {
  const r = new Reader(buf);
  const out: KeepAliveReply = { id: 0n, ttl: 0n };
  while (!r.done) {
    const tag = Number(r.varint());
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 2 && wireType === 0) out.id = r.varint();
    else if (field === 3 && wireType === 0) out.ttl = r.varint();
    else r.skip(wireType);
  }
  return out;
}
