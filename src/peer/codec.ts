// Encodes raft messages for the peer wire (proto/etcdtspb/raft.proto). IDs travel as uint64 and
// come back as decimal strings, which is how raft/ names members.
import * as protobuf from 'protobufjs';
import { resolve } from 'node:path';
import { PROTO_DIR } from '../pb/load';
import type { EntryType, Message, MessageType } from '../raft/types';

let batchType: protobuf.Type | undefined;

function type(): protobuf.Type {
  if (batchType === undefined) {
    const root = new protobuf.Root();
    root.loadSync(resolve(PROTO_DIR, 'etcdtspb/raft.proto'), { keepCase: true });
    batchType = root.lookupType('etcdtspb.RaftMessageBatch');
  }
  return batchType;
}

export interface MessageBatch {
  clusterId: string;
  from: string;
  messages: Message[];
}

interface WireEntry {
  term: string;
  index: string;
  type: number;
  data: Buffer;
}

interface WireMessage {
  type: string;
  from: string;
  to: string;
  term: string;
  log_term: string;
  index: string;
  entries: WireEntry[];
  commit: string;
  reject: boolean;
  reject_hint: string;
  context: Buffer;
  snapshot_index: string;
  snapshot_term: string;
}

export function encodeBatch(b: MessageBatch): Buffer {
  const t = type();
  const obj = {
    cluster_id: b.clusterId,
    from: b.from,
    messages: b.messages.map((m) => ({
      type: m.type,
      from: m.from,
      to: m.to,
      term: m.term,
      log_term: m.logTerm,
      index: m.index,
      entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data })),
      commit: m.commit,
      reject: m.reject,
      reject_hint: m.rejectHint,
      context: m.context ?? Buffer.alloc(0),
      snapshot_index: m.snapshot?.index ?? 0,
      snapshot_term: m.snapshot?.term ?? 0,
    })),
  };
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

export function decodeBatch(buf: Buffer): MessageBatch {
  const t = type();
  const o = t.toObject(t.decode(buf), { longs: String, bytes: Buffer, defaults: true, arrays: true }) as {
    cluster_id: string;
    from: string;
    messages: WireMessage[];
  };
  return {
    clusterId: o.cluster_id,
    from: o.from,
    messages: o.messages.map((m) => ({
      type: m.type as MessageType,
      from: m.from,
      to: m.to,
      term: Number(m.term),
      logTerm: Number(m.log_term),
      index: Number(m.index),
      entries: m.entries.map((e) => ({ term: Number(e.term), index: Number(e.index), type: e.type as EntryType, data: e.data })),
      commit: Number(m.commit),
      reject: m.reject,
      rejectHint: Number(m.reject_hint),
      context: m.context.length > 0 ? m.context : undefined,
      snapshot: Number(m.snapshot_index) > 0 ? { index: Number(m.snapshot_index), term: Number(m.snapshot_term) } : undefined,
    })),
  };
}
