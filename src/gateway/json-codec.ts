// The gateway's JSON <-> protobuf mapping: golang/protobuf's jsonpb as etcd's grpc-gateway
// configures it (runtime.JSONPb{OrigName: true}, EmitDefaults false). Requests are read into the
// protobuf wire bytes a gRPC client would have sent, responses are written from the wire bytes
// a gRPC client would have received, so the gateway serves exactly what gRPC serves:
//  - fields by their proto names, in declaration order; zero values (0, "", false, empty bytes
//    and lists, enum value 0, absent messages) left out; a present empty message is "{}";
//  - 64-bit integers as decimal strings, 32-bit as numbers, bytes as standard base64, enums by name;
//  - on input, proto or lowerCamel names, integers as numbers or strings, enums by name or number,
//    unknown fields ignored (grpc-gateway's allowUnknownFields), null as absent.
// Never throws anything but EtcdError(INVALID_ARGUMENT) for bad input.
import * as protobuf from 'protobufjs/light';
import { Code, EtcdError } from '../errors';
import { goJsonString } from '../listener/go-reply';

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT32_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

function invalid(message: string): EtcdError {
  return new EtcdError(Code.INVALID_ARGUMENT, message);
}

/**
 * Parses a JSON body as Go's json.Decoder would (the first value; an empty body is an empty
 * message, as grpc-gateway ignores io.EOF), with encoding/json's messages for the common errors.
 */
export function parseJsonBody(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return {};
  try {
    return JSON.parse(quoteBigIntegers(trimmed)) as unknown;
  } catch {
    throw invalid(goSyntaxError(trimmed));
  }
}

/**
 * Integers past 2^53 written as JSON numbers (IDs: `{"ID":7587899395993431305}`) as strings,
 * so that JSON.parse keeps every digit, as Go's decoder does. Strings are left as they are.
 */
function quoteBigIntegers(text: string): string {
  if (!/\d{16}/.test(text)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      const num = m === null ? c : m[0];
      out += /^-?\d{16,}$/.test(num) ? `"${num}"` : num;
      i += num.length;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** encoding/json's text for the first syntax error it would meet (common cases). */
export function goSyntaxError(text: string): string {
  const first = text[0];
  if (!'{["-0123456789tfn'.includes(first)) return `invalid character ${goQuoteChar(first)} looking for beginning of value`;
  // A value cut short (the usual bad body): Go's decoder reports the missing rest.
  if (isTruncatedPrefix(text)) return 'unexpected EOF';
  return 'invalid character in JSON body';
}

function goQuoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  return `'${c}'`;
}

/** Whether some suffix would make `text` valid JSON: it ends inside an open object, list or string. */
function isTruncatedPrefix(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return inString || depth > 0;
}

/** A JSON request (already parsed) as the protobuf wire bytes of `type`. */
export function encodeJsonRequest(type: protobuf.Type, json: unknown): Buffer {
  const plain = fromJson(type, json);
  return Buffer.from(type.encode(type.fromObject(plain)).finish());
}

function fromJson(type: protobuf.Type, json: unknown): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(`json: cannot unmarshal ${jsonKind(json)} into Go value of type ${goTypeName(type)}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key] ?? type.fieldsArray.find((f) => camel(f.name) === key);
    if (field === undefined || value === null) continue;
    field.resolve();
    if (field.repeated) {
      if (!Array.isArray(value)) throw invalid(`bad value in field ${goTypeName(type)}.${field.name}: expected a list`);
      out[field.name] = value.map((v: unknown) => fieldFromJson(type, field, v));
    } else out[field.name] = fieldFromJson(type, field, value);
  }
  return out;
}

function fieldFromJson(type: protobuf.Type, field: protobuf.Field, v: unknown): unknown {
  const where = `${goTypeName(type)}.${field.name}`;
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return fromJson(rt, v);
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string' && rt.values[v] !== undefined) return rt.values[v];
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    throw invalid(`unknown value ${JSON.stringify(v)} for enum ${rt.fullName.replace(/^\./, '')}`);
  }
  if (field.type === 'bytes') {
    if (typeof v !== 'string') throw invalid(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []uint8`);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
      // jsonpb also takes URL-safe and unpadded base64.
      if (!/^[A-Za-z0-9_-]*={0,2}$/.test(v)) throw invalid(`illegal base64 data at input byte ${badBase64Index(v)}`);
    }
    return Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64');
  }
  if (field.type === 'bool') {
    if (typeof v !== 'boolean') throw invalid(`json: cannot unmarshal ${jsonKind(v)} into Go value of type bool`);
    return v;
  }
  if (field.type === 'string') {
    if (typeof v !== 'string') throw invalid(`json: cannot unmarshal ${jsonKind(v)} into Go value of type string`);
    return v;
  }
  if (LONG_TYPES.has(field.type) || INT32_TYPES.has(field.type)) {
    const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : undefined;
    if (text === undefined || !/^-?\d+$/.test(text)) {
      // jsonpb (golang/protobuf 1.3, etcd 3.4) unquotes the string and reads it as JSON.
      if (typeof v === 'string' && v !== '' && !'-0123456789'.includes(v[0])) throw invalid(goSyntaxError(v));
      throw invalid(`bad value in field ${where}: ${JSON.stringify(v)} is not an integer`);
    }
    const n = BigInt(text);
    const unsigned = field.type.startsWith('u') || field.type.startsWith('fixed');
    const bits = LONG_TYPES.has(field.type) ? 64n : 32n;
    const min = unsigned ? 0n : -(1n << (bits - 1n));
    const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
    if (n < min || n > max) throw invalid(`bad value in field ${where}: ${text} out of range`);
    return bits === 64n ? text : Number(n);
  }
  if (typeof v !== 'number') throw invalid(`bad value in field ${where}: not a number`);
  return v;
}

function badBase64Index(v: string): number {
  const i = v.search(/[^A-Za-z0-9+/=]/);
  return i < 0 ? v.length - (v.length % 4) : i;
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

function goTypeName(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, '');
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** The JSON of the protobuf wire bytes `bytes` of `type`, as jsonpb writes it. */
export function wireToJson(type: protobuf.Type, bytes: Uint8Array): string {
  const obj = type.toObject(type.decode(bytes), { longs: String, enums: Number, bytes: String, defaults: false, arrays: false, oneofs: false });
  return objectToJson(type, obj);
}

function objectToJson(type: protobuf.Type, obj: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const field of type.fieldsArray) {
    const v = obj[field.name];
    if (v === undefined || v === null) continue;
    field.resolve();
    let text: string | undefined;
    if (field.repeated) {
      if (!Array.isArray(v) || v.length === 0) continue;
      text = `[${v.map((e: unknown) => valueToJson(field, e, true) ?? zeroJson(field)).join(',')}]`;
    } else text = valueToJson(field, v, false);
    if (text !== undefined) parts.push(`${goJsonString(field.name)}:${text}`);
  }
  return `{${parts.join(',')}}`;
}

/** A value's JSON; undefined for a zero value outside a list (jsonpb leaves those out). */
function valueToJson(field: protobuf.Field, v: unknown, inList: boolean): string | undefined {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return objectToJson(rt, v as Record<string, unknown>);
  if (rt instanceof protobuf.Enum) {
    const n = Number(v);
    if (n === 0 && !inList) return undefined;
    const name = rt.valuesById[n];
    return name === undefined ? String(n) : goJsonString(name);
  }
  if (LONG_TYPES.has(field.type)) {
    const s = String(v);
    return s === '0' && !inList ? undefined : `"${s}"`;
  }
  if (typeof v === 'string') return v === '' && !inList ? undefined : goJsonString(v);
  if (typeof v === 'boolean') return !v && !inList ? undefined : String(v);
  if (typeof v === 'number') return v === 0 && !inList ? undefined : String(v);
  return undefined;
}

function zeroJson(field: protobuf.Field): string {
  return field.type === 'string' || field.type === 'bytes' ? '""' : '0';
}
