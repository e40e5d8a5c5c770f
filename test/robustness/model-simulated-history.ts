// A correct history made up by simulation, for the checkers' tests: a sequential etcd KV (with
// revisions, leases, serializable reads) driven by concurrent clients whose calls overlap in time.
// Each call gets a linearization point inside its interval (an unknown outcome possibly after its
// client gave up); calls are applied in point order, so the recorded history is linearizable by
// construction. Watch sessions receive the committed events of their range, batched whole
// revisions per response, and resume from the revision after the last one they received.
import type { Call, History, Op, Result, WatchEvent, WatchSession } from './history';
import { ABSENT, type KeyVersion } from './check-events';

export interface SimulationOptions {
  seed: number;
  calls: number;
  clients: number;
  keys: number;
  watchers: number;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'put' | 'get' | 'sget' | 'delete' | 'txn' | 'lease-grant' | 'lease-revoke' | 'compact' | 'expire';
type Fate = 'ok' | 'unknown-happened' | 'unknown-not' | 'fail';

interface Planned {
  call: Call;
  kind: Kind;
  key: string;
  pointMs: number;
  fate: Fate;
}

interface Live extends KeyVersion {
  value: string;
  lease?: string;
}

/** The sequential store the calls are applied to. */
class SequentialKv {
  revision = 1;
  readonly kv = new Map<string, Live>();
  readonly leaseKeys = new Map<string, Set<string>>();
  readonly events: WatchEvent[] = [];
  private readonly past = new Map<string, { rev: number; v: KeyVersion }[]>();
  private nextLease = 1;

  stateAt(key: string, rev: number): KeyVersion {
    const list = this.past.get(key) ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (list[i].rev <= rev) return list[i].v;
    return ABSENT;
  }

  private remember(key: string, v: KeyVersion): void {
    const list = this.past.get(key) ?? [];
    list.push({ rev: this.revision, v });
    this.past.set(key, list);
  }

  private detach(key: string): void {
    const lease = this.kv.get(key)?.lease;
    if (lease !== undefined) this.leaseKeys.get(lease)?.delete(key);
  }

  put(key: string, value: string, lease?: string): number {
    const prev = this.kv.get(key);
    this.detach(key);
    this.revision++;
    const v: Live = { value, modRevision: this.revision, createRevision: prev?.createRevision ?? this.revision, version: (prev?.version ?? 0) + 1, lease };
    this.kv.set(key, v);
    if (lease !== undefined) this.leaseKeys.get(lease)?.add(key);
    this.events.push({ type: 'put', key, value, modRevision: v.modRevision, createRevision: v.createRevision, version: v.version });
    this.remember(key, { value, modRevision: v.modRevision, createRevision: v.createRevision, version: v.version });
    return this.revision;
  }

  /** Deletes the keys in one revision (a delete call, or a lease's keys); none: no revision. */
  deleteKeys(keys: string[]): number {
    const live = keys.filter((k) => this.kv.has(k)).sort();
    if (live.length === 0) return this.revision;
    this.revision++;
    for (const k of live) {
      this.detach(k);
      this.kv.delete(k);
      this.events.push({ type: 'delete', key: k, modRevision: this.revision, createRevision: 0, version: 0 });
      this.remember(k, ABSENT);
    }
    return this.revision;
  }

  grant(): string {
    const id = `L${this.nextLease++}`;
    this.leaseKeys.set(id, new Set());
    return id;
  }

  /** Revokes (or expires) a lease: its keys go in one revision. */
  revoke(lease: string): number {
    const keys = [...(this.leaseKeys.get(lease) ?? [])];
    this.leaseKeys.delete(lease);
    return this.deleteKeys(keys);
  }

  anyLease(rand: () => number): string | undefined {
    const ids = [...this.leaseKeys.keys()];
    return ids.length === 0 ? undefined : ids[Math.floor(rand() * ids.length)];
  }
}

function pickKind(r: number): Kind {
  if (r < 0.3) return 'put';
  if (r < 0.5) return 'get';
  if (r < 0.58) return 'sget';
  if (r < 0.7) return 'delete';
  if (r < 0.85) return 'txn';
  if (r < 0.9) return 'lease-grant';
  if (r < 0.94) return 'lease-revoke';
  if (r < 0.95) return 'compact';
  return 'expire';
}

function pickFate(kind: Kind, r: number): Fate {
  if (kind === 'expire') return 'ok';
  const writes = kind === 'put' || kind === 'delete' || kind === 'txn' || kind === 'lease-revoke';
  if (r < 0.06) return writes ? 'unknown-happened' : 'unknown-not';
  if (r < 0.12) return 'unknown-not';
  if (r < 0.14 && kind === 'put') return 'fail';
  return 'ok';
}

export function simulateHistory(o: SimulationOptions): History {
  const rand = mulberry32(o.seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const keys = Array.from({ length: o.keys }, (_, i) => `k${String(i).padStart(2, '0')}`);
  const clientFree = new Array<number>(o.clients).fill(0);
  const planned: Planned[] = [];
  let valueSeq = 0;

  for (let id = 0; id < o.calls; id++) {
    const client = clientFree.indexOf(Math.min(...clientFree));
    const invokeMs = clientFree[client] + int(3);
    const completeMs = invokeMs + 1 + int(12);
    const kind = pickKind(rand());
    const fate = pickFate(kind, rand());
    // An unknown outcome may take effect after the client gave up on it.
    const span = completeMs - invokeMs + (fate === 'unknown-happened' ? 30 : 0);
    const pointMs = invokeMs + rand() * span;
    const key = keys[int(keys.length)];
    const call: Call = { id, client, endpoint: `m${client}`, op: { type: 'get', key, serializable: false }, invokeMs, completeMs, outcome: 'ok' };
    planned.push({ call, kind, key, pointMs, fate });
    clientFree[client] = completeMs;
  }

  const kv = new SequentialKv();
  const applied = [...planned].sort((a, b) => a.pointMs - b.pointMs);
  const calls: Call[] = [];
  for (const p of applied) {
    const happens = p.fate === 'ok' || p.fate === 'unknown-happened';
    const value = `v${valueSeq++}`;
    let op: Op;
    let result: Result | undefined;
    switch (p.kind) {
      case 'put': {
        const lease = rand() < 0.3 ? kv.anyLease(rand) : undefined;
        op = { type: 'put', key: p.key, value, lease };
        if (happens) result = { revision: kv.put(p.key, value, lease) };
        break;
      }
      case 'get':
      case 'sget': {
        const serializable = p.kind === 'sget';
        op = { type: 'get', key: p.key, serializable };
        const at = serializable ? Math.max(1, kv.revision - int(5)) : kv.revision;
        const s = kv.stateAt(p.key, at);
        result = { revision: at, value: s.value, modRevision: s.modRevision };
        break;
      }
      case 'delete':
        op = { type: 'delete', key: p.key };
        if (happens) result = { revision: kv.deleteKeys([p.key]) };
        break;
      case 'txn': {
        const current = kv.kv.get(p.key)?.modRevision ?? 0;
        const expectModRev = rand() < 0.6 ? current : Math.max(0, current - 1 - int(3));
        op = { type: 'txn', key: p.key, expectModRev, value };
        if (happens) {
          if (expectModRev === current) result = { revision: kv.put(p.key, value), succeeded: true };
          else {
            const s = kv.stateAt(p.key, kv.revision);
            result = { revision: kv.revision, succeeded: false, value: s.value, modRevision: s.modRevision };
          }
        }
        break;
      }
      case 'lease-grant':
        op = { type: 'lease-grant', ttl: 10 };
        result = happens ? { revision: kv.revision, lease: kv.grant() } : undefined;
        break;
      case 'lease-revoke': {
        const lease = kv.anyLease(rand) ?? 'L0';
        op = { type: 'lease-revoke', lease };
        if (happens) result = { revision: kv.revoke(lease) };
        break;
      }
      case 'compact':
        op = { type: 'compact', revision: Math.max(1, kv.revision - 10) };
        result = { revision: kv.revision };
        break;
      case 'expire': {
        const lease = kv.anyLease(rand);
        if (lease !== undefined) kv.revoke(lease);
        continue; // the server's doing: no call
      }
    }
    const c: Call = { ...p.call, op };
    if (p.fate === 'ok') c.result = result;
    else {
      c.outcome = p.fate === 'fail' ? 'fail' : 'unknown';
      c.error = p.fate === 'fail' ? 'etcdserver: requested lease not found' : 'context deadline exceeded';
      if (p.fate === 'unknown-not' && rand() < 0.5) delete c.completeMs; // never returned
    }
    calls.push(c);
  }
  calls.sort((a, b) => a.id - b.id);

  const finalState: Record<string, [string, number]> = {};
  for (const [k, v] of [...kv.kv.entries()].sort()) finalState[k] = [v.value, v.modRevision];
  return {
    seed: o.seed,
    calls,
    watches: simulateWatches(o, kv.events, keys, rand),
    faults: [],
    finalEvents: kv.events,
    finalState,
    finalRevision: kv.revision,
  };
}

function simulateWatches(o: SimulationOptions, events: WatchEvent[], keys: string[], rand: () => number): WatchSession[] {
  const ranges = [
    { key: keys[0], rangeEnd: '' },
    { key: keys[Math.floor(keys.length / 4)], rangeEnd: keys[Math.floor(keys.length / 2)] },
    { key: '', rangeEnd: '\0' },
  ];
  const sessions: WatchSession[] = [];
  const last = events[events.length - 1]?.modRevision ?? 1;
  for (let w = 0; w < o.watchers; w++) {
    const range = ranges[w % ranges.length];
    const inRange = (k: string): boolean => (range.rangeEnd === '' ? k === range.key : k >= range.key && (range.rangeEnd === '\0' || k < range.rangeEnd));
    let start = 1 + Math.floor(rand() * Math.max(1, last / 4));
    for (let n = 0; n < 3; n++) {
      const mine = events.filter((e) => e.modRevision >= start && inRange(e.key));
      // Whole revisions per response, a few at a time; the session may end anywhere between them.
      const revs = [...new Set(mine.map((e) => e.modRevision))];
      const keep = n === 2 ? revs.length : Math.floor(rand() * revs.length);
      const responses: WatchSession['responses'] = [];
      for (let i = 0; i < keep; ) {
        const take = revs.slice(i, i + 1 + Math.floor(rand() * 3)).slice(0, keep - i);
        const evs = mine.filter((e) => take.includes(e.modRevision));
        responses.push({ revision: take[take.length - 1], events: evs, atMs: i });
        i += take.length;
      }
      sessions.push({ watcher: w, endpoint: `m${n}`, ...range, startRevision: start, responses });
      if (keep > 0) start = revs[keep - 1] + 1;
    }
  }
  return sessions;
}
