// etcd's authpb records (proto/authpb/auth.proto) as gogoproto marshals them, which is also how
// they sit in etcd's bbolt buckets `authUsers` and `authRoles`, and so in our LMDB tables and in
// snapshots, byte for byte:
//   User       name bytes = 1 | password bytes = 2 (the bcrypt hash text, "$2a$10$...") |
//              roles repeated string = 3 | options UserAddOptions = 4 (written whenever set, even
//              empty: gogoproto writes a non-nil message pointer) ; UserAddOptions no_password bool = 1
//   Role       name bytes = 1 | keyPermission repeated Permission = 2
//   Permission permType enum = 1 (READ 0, WRITE 1, READWRITE 2) | key bytes = 2 | range_end bytes = 3
// Fields in number order, zero values left out (proto3), unknown fields skipped when reading.
// Pure: no I/O.

export enum PermType {
  READ = 0,
  WRITE = 1,
  READWRITE = 2,
}

/** authpb.Permission, with protobufjs' field names (keepCase), so a decoded request passes as is. */
export interface Permission {
  permType: PermType;
  key: Buffer;
  range_end: Buffer;
}

export interface User {
  name: string;
  /** The bcrypt hash's text as bytes; empty for a user without a password. */
  password: Buffer;
  /** Sorted in byte order (etcd keeps them so and binary-searches them). */
  roles: string[];
  /** Undefined only for users written by etcd before 3.4's no-password option. */
  options?: { noPassword: boolean };
}

export interface Role {
  name: string;
  /** Sorted by key (Go's unstable sort, as etcd leaves them). */
  keyPermission: Permission[];
}

export class AuthRecordError extends Error {
  override readonly name = 'AuthRecordError';
}

// ---- writing -------------------------------------------------------------------------------

class ProtoWriter {
  private readonly parts: Buffer[] = [];

  varint(field: number, v: number): void {
    if (v === 0) return;
    this.parts.push(Buffer.from([...varint(field << 3), ...varint(v)]));
  }

  bytes(field: number, b: Buffer, always = false): void {
    if (b.length === 0 && !always) return;
    this.parts.push(Buffer.from([...varint((field << 3) | 2), ...varint(b.length)]), b);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A varint; a negative number (an int32 enum value) as its 64-bit two's complement, as Go writes it. */
function varint(v: number): number[] {
  if (!Number.isSafeInteger(v)) throw new AuthRecordError(`protobuf: bad varint ${v}`);
  const out: number[] = [];
  let n = BigInt.asUintN(64, BigInt(v));
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}

export function marshalPermission(p: Permission): Buffer {
  const w = new ProtoWriter();
  w.varint(1, p.permType);
  w.bytes(2, p.key);
  w.bytes(3, p.range_end);
  return w.finish();
}

export function marshalUser(u: User): Buffer {
  const w = new ProtoWriter();
  w.bytes(1, Buffer.from(u.name));
  w.bytes(2, u.password);
  // Repeated strings are written even when empty.
  for (const r of u.roles) w.bytes(3, Buffer.from(r), true);
  if (u.options !== undefined) {
    const o = new ProtoWriter();
    o.varint(1, u.options.noPassword ? 1 : 0);
    w.bytes(4, o.finish(), true);
  }
  return w.finish();
}

export function marshalRole(r: Role): Buffer {
  const w = new ProtoWriter();
  w.bytes(1, Buffer.from(r.name));
  for (const p of r.keyPermission) w.bytes(2, marshalPermission(p), true);
  return w.finish();
}

// ---- reading -------------------------------------------------------------------------------

type Field = { n: number; v: number } | { n: number; b: Buffer };

/** Every field in order (repeated ones as many times as they occur). */
function readFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const next = (): number => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= buf.length) throw new AuthRecordError('protobuf: truncated varint');
      const b = buf[at++];
      v += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return v;
      scale *= 0x80;
    }
    throw new AuthRecordError('protobuf: varint too long');
  };
  while (at < buf.length) {
    const tag = next();
    const n = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) out.push({ n, v: next() });
    else if (wire === 2) {
      const len = next();
      if (at + len > buf.length) throw new AuthRecordError('protobuf: truncated field');
      out.push({ n, b: Buffer.from(buf.subarray(at, at + len)) });
      at += len;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new AuthRecordError(`protobuf: unsupported wire type ${wire}`);
    if (at > buf.length) throw new AuthRecordError('protobuf: truncated field');
  }
  return out;
}

const bytesOf = (f: Field): Buffer | undefined => ('b' in f ? f.b : undefined);
const varintOf = (f: Field): number | undefined => ('v' in f ? f.v : undefined);

export function unmarshalPermission(buf: Buffer): Permission {
  const p: Permission = { permType: PermType.READ, key: Buffer.alloc(0), range_end: Buffer.alloc(0) };
  for (const f of readFields(buf)) {
    if (f.n === 1) p.permType = (varintOf(f) ?? 0) as PermType;
    else if (f.n === 2) p.key = bytesOf(f) ?? p.key;
    else if (f.n === 3) p.range_end = bytesOf(f) ?? p.range_end;
  }
  return p;
}

export function unmarshalUser(buf: Buffer): User {
  const u: User = { name: '', password: Buffer.alloc(0), roles: [] };
  for (const f of readFields(buf)) {
    const b = bytesOf(f);
    if (b === undefined) continue;
    if (f.n === 1) u.name = b.toString('utf8');
    else if (f.n === 2) u.password = b;
    else if (f.n === 3) u.roles.push(b.toString('utf8'));
    else if (f.n === 4) {
      let noPassword = false;
      for (const o of readFields(b)) if (o.n === 1) noPassword = (varintOf(o) ?? 0) !== 0;
      u.options = { noPassword };
    }
  }
  return u;
}

export function unmarshalRole(buf: Buffer): Role {
  const r: Role = { name: '', keyPermission: [] };
  for (const f of readFields(buf)) {
    const b = bytesOf(f);
    if (b === undefined) continue;
    if (f.n === 1) r.name = b.toString('utf8');
    else if (f.n === 2) r.keyPermission.push(unmarshalPermission(b));
  }
  return r;
}

/** Byte order of UTF-8 names: Go's string order (sort.Strings), and bbolt's key order. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
