// Deterministic simulation of a Raft group (src/raft/) with fault injection and invariant checks.
//
// Everything a run does is drawn from one seeded PRNG: the cluster shape, the network's delays,
// drops and duplicates, partitions, one-way blackholes, crashes (also in the middle of handling a
// Ready), pauses and the client workload. There are no timers: time is an integer tick counter.
// So a seed is a complete, replayable fault schedule: `runSeed(seed)` twice does exactly the same.
//
// Each member has a durable "disk" (stable log, hard state, applied index and the applied
// sequence, i.e. the state machine) and an in-memory Raft that a crash throws away; a restart
// rebuilds the Raft from the disk. Ready handling follows the contract in src/raft/types.ts:
// persist entries (replacing the conflicting suffix) and hard state, apply committed entries,
// send messages, advance().
//
// The network moves Message objects without looking at their type, so message types added later
// (pre-vote, snapshots, ReadIndex, forwarded proposals, ...) flow through unchanged. Messages are
// copied on send (entries deep-copied) as a wire would do, so sender and receiver share nothing.
//
// Invariants (each violation throws InvariantViolation naming the seed, with a trace of the last
// events): election safety, log matching, leader completeness, state machine safety, commit only
// with a quorum of durable copies, vote at most once per term, no gaps in applying, and liveness
// once the faults stop.
import { ProposalDroppedError, Raft } from '../../src/raft/raft';
import type { LogStorage } from '../../src/raft/log';
import { MessageType, Role, type Entry, type HardState, type MemberId, type Message, type Ready } from '../../src/raft/types';

// ---- PRNG ----------------------------------------------------------------------------------

/** mulberry32: small, fast, good enough for schedules, and fully determined by the seed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    // Scramble the seed so that neighbouring seeds start far apart.
    let s = (seed ^ 0x9e3779b9) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.state = (s ^ (s >>> 16)) >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('prng: pick from an empty list');
    return xs[Math.floor(this.float() * xs.length)];
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1));
      const x = xs[i];
      xs[i] = xs[j];
      xs[j] = x;
    }
    return xs;
  }
}

// ---- storage -------------------------------------------------------------------------------

const TWO_32 = 4294967296;

/** Extends a 53-bit prefix hash (two lanes: 21 + 32 bits) with one entry. */
function extendHash(prev: number, e: Entry): number {
  let lo = prev % TWO_32 >>> 0;
  let hi = Math.floor(prev / TWO_32) >>> 0;
  const mix = (x: number): void => {
    lo = Math.imul(lo ^ x, 0x5bd1e995) >>> 0;
    lo = (lo ^ (lo >>> 15)) >>> 0;
    hi = Math.imul(hi ^ x ^ (lo >>> 7), 0x27d4eb2f) >>> 0;
    hi = (hi ^ (hi >>> 13)) >>> 0;
  };
  mix(e.index);
  mix(e.term);
  mix(e.type + 0x100);
  mix(e.data.length + 0x10000);
  for (let i = 0; i < e.data.length; i++) mix(e.data[i]);
  return (hi & 0x1fffff) * TWO_32 + lo;
}

function cloneEntry(e: Entry): Entry {
  return { ...e, data: Buffer.from(e.data) };
}

/** A member's stable log: what survives a crash. Implements the Raft core's LogStorage. */
export class MemoryStorage implements LogStorage {
  private log: Entry[] = [];
  /** hashes[i - 1] is the hash of entries 1..i (used to check log matching cheaply). */
  private hashes: number[] = [];

  firstIndex(): number {
    return 1;
  }

  lastIndex(): number {
    return this.log.length;
  }

  term(i: number): number {
    if (i === 0) return 0;
    const e = this.log[i - 1];
    if (e === undefined) throw new Error(`storage: term(${i}) outside [0, ${this.log.length}]`);
    return e.term;
  }

  entries(lo: number, hi: number): Entry[] {
    if (lo < 1 || lo > hi || hi > this.log.length + 1) throw new Error(`storage: entries(${lo}, ${hi}) outside [1, ${this.log.length + 1})`);
    return this.log.slice(lo - 1, hi - 1);
  }

  entry(i: number): Entry | undefined {
    return i >= 1 ? this.log[i - 1] : undefined;
  }

  prefixHash(i: number): number {
    return i === 0 ? 0 : this.hashes[i - 1];
  }

  /** Replaces everything from es[0].index on with es (copied); returns how many entries were cut. */
  append(es: Entry[]): number {
    if (es.length === 0) return 0;
    const first = es[0].index;
    const cut = Math.max(0, this.log.length - (first - 1));
    this.log.length = first - 1;
    this.hashes.length = first - 1;
    let h = this.prefixHash(first - 1);
    for (const e of es) {
      const copy = cloneEntry(e);
      h = extendHash(h, copy);
      this.log.push(copy);
      this.hashes.push(h);
    }
    return cut;
  }
}

// ---- configuration ---------------------------------------------------------------------------

/** Faults the scheduler injects as events (the per-message ones are probabilities). */
export const SCHEDULED_FAULTS = ['partition', 'blackhole', 'crash', 'pause'] as const;
export type ScheduledFault = (typeof SCHEDULED_FAULTS)[number];

/** Everything counted as an injected fault. */
export const FAULT_KINDS = ['drop', 'duplicate', 'delay', 'partition', 'blackhole', 'crash', 'pause'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type CrashPoint = 'idle' | 'afterPersist' | 'midApply' | 'afterApply' | 'afterSend';
const CRASH_POINTS: readonly CrashPoint[] = ['idle', 'afterPersist', 'midApply', 'afterApply', 'afterSend'];

export interface SimConfig {
  seed: number;
  members: number;
  electionTicks: number;
  heartbeatTicks: number;
  maxEntriesPerMsg: number;
  /** Ticks with faults and client load; then everything heals and the cluster must converge. */
  faultTicks: number;
  /** Bound on the quiet phase: no convergence by then is a liveness violation. */
  maxQuietTicks: number;
  /** In the quiet phase, this many ticks without any member persisting, committing or applying more is a liveness violation. */
  stallTicks: number;
  /** Normal delivery delay is uniform in [0, maxDelay] ticks (0: later in the same tick). */
  maxDelay: number;
  /** Probability that a message is held back much longer (reordering far past others). */
  longDelayProb: number;
  longDelayMax: number;
  dropProb: number;
  dupProb: number;
  /** Probability that a message sent to an earlier incarnation of its target is lost. */
  staleDropProb: number;
  /** Probability per tick of injecting one scheduled fault. */
  faultRate: number;
  faults: Record<ScheduledFault, boolean>;
  /** Probability per tick of a client proposal. */
  proposeProb: number;
  maxBatch: number;
  /** 'leader': propose to a member that believes it leads. 'any': to any live member (needs forwarding). */
  proposalTarget: 'leader' | 'any';
  /** Raft options (pre-vote and check-quorum are on by default in the core; seeds also run without). */
  preVote: boolean;
  checkQuorum: boolean;
  /** Events kept for the failure trace (observation only: does not change the run). */
  traceSize: number;
}

export function configForSeed(seed: number, overrides: Partial<SimConfig> = {}): SimConfig {
  const r = new Prng(seed ^ 0x51ed270b);
  const calm = r.chance(0.04); // a few seeds run without any fault, as a baseline
  const electionTicks = 10;
  const maxDelay = r.int(0, 3);
  const faults: Record<ScheduledFault, boolean> = { partition: false, blackhole: false, crash: false, pause: false };
  for (const k of SCHEDULED_FAULTS) faults[k] = !calm && r.chance(0.7);
  const cfg: SimConfig = {
    seed,
    members: r.chance(0.5) ? 3 : 5,
    electionTicks,
    heartbeatTicks: r.pick([1, 2, 2, 3]),
    maxEntriesPerMsg: r.pick([1, 2, 4, 1024]),
    faultTicks: r.int(250, 450),
    maxQuietTicks: 500 * electionTicks,
    stallTicks: 30 * electionTicks,
    maxDelay,
    longDelayProb: !calm && r.chance(0.5) ? r.float() * 0.05 : 0,
    longDelayMax: r.int(maxDelay + 1, 3 * electionTicks),
    dropProb: !calm && r.chance(0.6) ? r.float() * 0.2 : 0,
    dupProb: !calm && r.chance(0.5) ? r.float() * 0.1 : 0,
    staleDropProb: r.float(),
    faultRate: 0.005 + r.float() * 0.05,
    faults,
    proposeProb: 0.05 + r.float() * 0.45,
    maxBatch: r.int(1, 4),
    proposalTarget: 'leader',
    preVote: r.chance(0.75),
    checkQuorum: r.chance(0.75),
    traceSize: 40,
  };
  return { ...cfg, ...overrides, seed };
}

// ---- results and errors ----------------------------------------------------------------------


export interface SimResult {
  seed: number;
  members: number;
  ticks: number;
  quietTicks: number;
  messagesSent: number;
  messagesDelivered: number;
  faults: Record<FaultKind, number>;
  /** Messages lost to partitions/blackholes, to crashed members, or sent to an earlier incarnation. */
  messagesCut: number;
  messagesToDown: number;
  messagesStale: number;
  proposalsAttempted: number;
  proposalsAccepted: number;
  proposalsCommitted: number;
  leaders: number;
  crashPoints: Record<CrashPoint, number>;
  finalLogLength: number;
}

export function emptyFaultCounts(): Record<FaultKind, number> {
  return { drop: 0, duplicate: 0, delay: 0, partition: 0, blackhole: 0, crash: 0, pause: 0 };
}

export class InvariantViolation extends Error {
  constructor(
    readonly seed: number,
    readonly invariant: string,
    readonly detail: string,
    readonly tick: number,
    readonly trace: string[],
    readonly keyTrace: string[],
    readonly config: SimConfig,
  ) {
    super(
      `raft-sim seed ${seed}: ${invariant} violated at tick ${tick}: ${detail}\n` +
        `replay with RAFT_SIM_SEED=${seed}\n` +
        `config: ${describeConfig(config)}\n` +
        `last ${keyTrace.length} key events (faults, roles, votes, truncations, rejections):\n  ${keyTrace.join('\n  ')}\n` +
        `last ${trace.length} events:\n  ${trace.join('\n  ')}`,
    );
    this.name = 'InvariantViolation';
  }
}

export function describeConfig(c: SimConfig): string {
  const on = SCHEDULED_FAULTS.filter((k) => c.faults[k]).join(',') || 'none';
  const pct = (p: number): string => `${(p * 100).toFixed(1)}%`;
  return (
    `members=${c.members} election=${c.electionTicks} heartbeat=${c.heartbeatTicks} maxEntriesPerMsg=${c.maxEntriesPerMsg} ` +
    `faultTicks=${c.faultTicks} delay=0..${c.maxDelay} long=${pct(c.longDelayProb)}(<=${c.longDelayMax}) drop=${pct(c.dropProb)} ` +
    `dup=${pct(c.dupProb)} staleDrop=${pct(c.staleDropProb)} faultRate=${pct(c.faultRate)} faults=${on} ` +
    `propose=${pct(c.proposeProb)}x${c.maxBatch} to=${c.proposalTarget} preVote=${c.preVote} checkQuorum=${c.checkQuorum}`
  );
}

// ---- trace -----------------------------------------------------------------------------------

function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  if (m.index !== 0 || m.logTerm !== 0) s += ` idx=${m.index} logTerm=${m.logTerm}`;
  if (m.commit !== 0) s += ` commit=${m.commit}`;
  if (m.entries.length > 0) s += ` entries=${m.entries[0].index}..${m.entries[m.entries.length - 1].index}(t${m.entries[m.entries.length - 1].term})`;
  if (m.reject) s += ` REJECT hint=${m.rejectHint}`;
  return s;
}

/** Ring buffer of recent events, formatted only when a failure needs them. */
class Trace {
  private readonly ticks: number[] = [];
  private readonly notes: string[] = [];
  private readonly msgs: (Message | undefined)[] = [];
  private next = 0;
  private count = 0;

  constructor(private readonly size: number) {}

  add(tick: number, note: string, msg?: Message): void {
    if (this.size <= 0) return;
    this.ticks[this.next] = tick;
    this.notes[this.next] = note;
    this.msgs[this.next] = msg;
    this.next = (this.next + 1) % this.size;
    this.count++;
  }

  lines(): string[] {
    const n = Math.min(this.count, this.size);
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      const i = (this.next - n + k + this.size) % this.size;
      const m = this.msgs[i];
      out.push(`t=${this.ticks[i]} ${this.notes[i]}${m !== undefined ? ' ' + describeMessage(m) : ''}`);
    }
    return out;
  }
}

// ---- the simulation --------------------------------------------------------------------------

interface Envelope {
  msg: Message;
  /** The target's incarnation when the message was sent. */
  toIncarnation: number;
}

interface AppliedRecord {
  index: number;
  term: number;
  data: string;
}

interface CommittedRecord {
  term: number;
  data: string;
  by: MemberId;
  tick: number;
  /**
   * An upper bound of the term in which the entry was committed: the term of the member that first
   * recorded it (normally the committing leader itself, which persists its commit before telling
   * anyone). Leader completeness applies to leaders of later terms than this.
   */
  commitTerm: number;
}

interface Member {
  id: MemberId;
  // -- disk: survives crashes
  storage: MemoryStorage;
  hardState: HardState;
  applied: number;
  appliedSeq: AppliedRecord[];
  // -- process
  raft: Raft | undefined;
  incarnation: number;
  downUntil: number; // >= 0 while crashed
  pausedUntil: number; // >= 0 while paused
  inbox: Envelope[];
  pendingCrash: CrashPoint | undefined;
  crashDownFor: number;
  // -- observer bookkeeping (not part of the member)
  commitRecorded: number;
  /** Every vote this member ever persisted, by term. */
  votes: Map<number, MemberId>;
  lastRole: Role | undefined;
  lastTerm: number;
}

interface ProposalRecord {
  accepted: boolean;
  /** Index the leader gave it, or 0 if unknown. */
  index: number;
  term: number;
}

export class Simulation {
  readonly cfg: SimConfig;
  private readonly rng: Prng;
  private readonly members: Member[] = [];
  private readonly byId = new Map<MemberId, Member>();
  private readonly voters: MemberId[];
  private readonly quorum: number;
  /** Every event; and only the key ones (faults, roles, votes, truncations, rejections). */
  private readonly trace: Trace;
  private readonly keyTrace: Trace;
  private now = 0;
  private readonly queue: (Envelope[] | undefined)[] = [];
  // network conditions (zeroed when the faults stop)
  private dropProb: number;
  private dupProb: number;
  private longDelayProb: number;
  private partition: { side: Map<MemberId, number>; until: number } | undefined;
  private blackholes: { from: MemberId; to: MemberId; until: number }[] = [];
  // observer state
  private readonly termLeader = new Map<number, MemberId>();
  /** committed[i]: the entry known committed at index i (from any member's persisted commit). */
  private readonly committed: (CommittedRecord | undefined)[] = [];
  /** The longest applied sequence of any member. */
  private readonly longestApplied: AppliedRecord[] = [];
  /** For log matching: prefixAt[i].get(term) = hash of the log prefix ending with entry (i, term). */
  private readonly prefixAt: (Map<number, { hash: number; member: MemberId }> | undefined)[] = [];
  private readonly proposals = new Map<string, ProposalRecord>();
  private readonly appliedAt = new Map<string, number>();
  /** Payloads in a forwarded proposal that the network duplicated. */
  private readonly mayRepeat = new Set<string>();
  private opCounter = 0;
  private readonly result: SimResult;

  constructor(cfg: SimConfig) {
    this.cfg = cfg;
    this.rng = new Prng(cfg.seed);
    this.trace = new Trace(cfg.traceSize);
    this.keyTrace = new Trace(cfg.traceSize);
    this.dropProb = cfg.dropProb;
    this.dupProb = cfg.dupProb;
    this.longDelayProb = cfg.longDelayProb;
    this.voters = Array.from({ length: cfg.members }, (_, i) => String(i + 1));
    this.quorum = Math.floor(cfg.members / 2) + 1;
    this.result = {
      seed: cfg.seed,
      members: cfg.members,
      ticks: 0,
      quietTicks: 0,
      messagesSent: 0,
      messagesDelivered: 0,
      faults: emptyFaultCounts(),
      messagesCut: 0,
      messagesToDown: 0,
      messagesStale: 0,
      proposalsAttempted: 0,
      proposalsAccepted: 0,
      proposalsCommitted: 0,
      leaders: 0,
      crashPoints: { idle: 0, afterPersist: 0, midApply: 0, afterApply: 0, afterSend: 0 },
      finalLogLength: 0,
    };
    for (const id of this.voters) {
      const m: Member = {
        id,
        storage: new MemoryStorage(),
        hardState: { term: 0, vote: '', commit: 0 },
        applied: 0,
        appliedSeq: [],
        raft: undefined,
        incarnation: 0,
        downUntil: -1,
        pausedUntil: -1,
        inbox: [],
        pendingCrash: undefined,
        crashDownFor: 0,
        commitRecorded: 0,
        votes: new Map(),
        lastRole: undefined,
        lastTerm: 0,
      };
      this.members.push(m);
      this.byId.set(id, m);
    }
  }

  run(): SimResult {
    for (const m of this.members) this.start(m);
    const end = this.cfg.faultTicks + this.cfg.maxQuietTicks;
    let mark = -1;
    let markedAt = 0;
    for (this.now = 0; ; this.now++) {
      if (this.now === this.cfg.faultTicks) this.heal();
      if (this.now > this.cfg.faultTicks) {
        if (this.converged()) break;
        // A backlog may take long to replicate (no pipelining yet); no progress at all is a stall.
        const p = this.progressMark();
        if (p !== mark) {
          mark = p;
          markedAt = this.now;
        } else if (this.now - markedAt >= this.cfg.stallTicks) {
          this.fail('liveness', `no progress for ${this.cfg.stallTicks} ticks after the faults stopped (t=${this.cfg.faultTicks}): ${this.describeMembers()}`);
        }
      }
      if (this.now >= end) this.fail('liveness', `no convergence ${this.cfg.maxQuietTicks} ticks after the faults stopped: ${this.describeMembers()}`);
      this.tick();
    }
    this.finalChecks();
    this.result.ticks = this.now;
    this.result.quietTicks = this.now - this.cfg.faultTicks;
    return this.result;
  }

  // ---- one tick ------------------------------------------------------------------------------

  private tick(): void {
    const t = this.now;
    if (this.partition !== undefined && this.partition.until <= t) {
      this.partition = undefined;
      this.note('partition healed');
    }
    if (this.blackholes.length > 0) this.blackholes = this.blackholes.filter((b) => b.until > t);
    for (const m of this.members) {
      if (m.downUntil >= 0 && m.downUntil <= t) this.start(m);
      else if (m.pausedUntil >= 0 && m.pausedUntil <= t) this.resume(m);
    }
    if (t < this.cfg.faultTicks && this.rng.chance(this.cfg.faultRate)) this.injectFault();

    // Local actions (a tick per live member, maybe a proposal) interleave randomly with deliveries.
    const locals: number[] = [];
    for (let i = 0; i < this.members.length; i++) if (this.active(this.members[i])) locals.push(i);
    if (t < this.cfg.faultTicks && this.rng.chance(this.cfg.proposeProb)) locals.push(-1);
    this.rng.shuffle(locals);
    const bucket = this.queue[t] ?? [];
    this.queue[t] = bucket; // messages sent with delay 0 join this bucket
    let li = 0;
    let bi = 0;
    while (li < locals.length || bi < bucket.length) {
      const remL = locals.length - li;
      const remB = bucket.length - bi;
      if (remL > 0 && (remB === 0 || this.rng.int(1, remL + remB) <= remL)) this.local(locals[li++]);
      else this.deliver(bucket[bi++]);
    }
    this.queue[t] = undefined;
    // A crash scheduled for the middle of a Ready that no Ready reached happens now.
    for (const m of this.members) if (m.pendingCrash !== undefined) this.crash(m, 'idle');
  }

  private local(i: number): void {
    if (i < 0) {
      this.propose();
      return;
    }
    const m = this.members[i];
    const raft = m.raft;
    if (raft === undefined || !this.active(m)) return; // crashed earlier in this tick
    this.call(m, 'tick', () => raft.tick());
    this.handleReady(m);
  }

  private active(m: Member): boolean {
    return m.raft !== undefined && m.pausedUntil < 0;
  }

  // ---- network -------------------------------------------------------------------------------

  private blocked(from: MemberId, to: MemberId): boolean {
    const p = this.partition;
    if (p !== undefined && p.side.get(from) !== p.side.get(to)) return true;
    for (const b of this.blackholes) if (b.from === from && b.to === to) return true;
    return false;
  }

  private send(msg: Message): void {
    this.result.messagesSent++;
    const to = this.byId.get(msg.to);
    if (to === undefined) this.fail('addressing', `message to unknown member ${msg.to}: ${describeMessage(msg)}`);
    if (this.blocked(msg.from, msg.to)) {
      this.result.messagesCut++;
      return;
    }
    if (this.rng.chance(this.dropProb)) {
      this.result.faults.drop++;
      this.note('drop', msg, true);
      return;
    }
    this.enqueue(msg, to.incarnation);
    if (this.rng.chance(this.dupProb)) {
      this.result.faults.duplicate++;
      this.enqueue(msg, to.incarnation);
      // A duplicated forwarded proposal is two proposals to the leader: Raft promises no
      // exactly-once for proposals (clients dedupe by request id), so these may apply twice.
      if (msg.type === MessageType.Prop) for (const e of msg.entries) this.mayRepeat.add(e.data.toString('latin1'));
    }
  }

  private enqueue(msg: Message, toIncarnation: number): void {
    let delay: number;
    if (this.rng.chance(this.longDelayProb)) {
      this.result.faults.delay++;
      delay = this.rng.int(this.cfg.maxDelay + 1, this.cfg.longDelayMax);
    } else {
      delay = this.rng.int(0, this.cfg.maxDelay);
    }
    // A copy, as a wire would make: entries are deep-copied; other fields are shared read-only.
    const copy: Message = { ...msg, entries: msg.entries.map(cloneEntry) };
    const at = this.now + delay;
    const bucket = this.queue[at];
    if (bucket === undefined) this.queue[at] = [{ msg: copy, toIncarnation }];
    else bucket.push({ msg: copy, toIncarnation });
  }

  private deliver(env: Envelope): void {
    const msg = env.msg;
    const m = this.byId.get(msg.to);
    if (m === undefined) return;
    if (this.blocked(msg.from, msg.to)) {
      this.result.messagesCut++;
      return;
    }
    const raft = m.raft;
    if (raft === undefined) {
      this.result.messagesToDown++;
      return;
    }
    if (env.toIncarnation !== m.incarnation && this.rng.chance(this.cfg.staleDropProb)) {
      this.result.messagesStale++;
      return;
    }
    if (m.pausedUntil >= 0) {
      m.inbox.push(env);
      return;
    }
    this.result.messagesDelivered++;
    this.note('deliver', msg, !msg.reject);
    this.call(m, 'step', () => raft.step(msg));
    this.handleReady(m);
  }

  // ---- faults --------------------------------------------------------------------------------

  private injectFault(): void {
    const kinds = SCHEDULED_FAULTS.filter((k) => this.cfg.faults[k]);
    if (kinds.length === 0) return;
    const kind = this.rng.pick(kinds);
    const E = this.cfg.electionTicks;
    const t = this.now;
    switch (kind) {
      case 'partition': {
        if (this.partition !== undefined) return;
        const ids = this.rng.shuffle([...this.voters]);
        const cut = this.rng.int(1, ids.length - 1);
        const side = new Map<MemberId, number>();
        ids.forEach((id, i) => side.set(id, i < cut ? 0 : 1));
        this.partition = { side, until: t + this.rng.int(E, 8 * E) };
        this.result.faults.partition++;
        this.note(`partition [${ids.slice(0, cut).sort().join(',')}] | [${ids.slice(cut).sort().join(',')}] until t=${this.partition.until}`);
        return;
      }
      case 'blackhole': {
        const from = this.rng.pick(this.voters);
        const to = this.rng.pick(this.voters.filter((v) => v !== from));
        const until = t + this.rng.int(E, 6 * E);
        this.blackholes.push({ from, to, until });
        this.result.faults.blackhole++;
        this.note(`blackhole ${from}->${to} until t=${until}`);
        return;
      }
      case 'crash': {
        const up = this.members.filter((m) => this.active(m) && m.pendingCrash === undefined);
        if (up.length === 0) return;
        const m = this.rng.pick(up);
        m.crashDownFor = this.rng.int(0, 6 * E);
        const point = this.rng.pick(CRASH_POINTS);
        if (point === 'idle') this.crash(m, 'idle');
        else m.pendingCrash = point;
        return;
      }
      case 'pause': {
        const up = this.members.filter((m) => this.active(m) && m.pendingCrash === undefined);
        if (up.length === 0) return;
        const m = this.rng.pick(up);
        m.pausedUntil = t + this.rng.int(1, 4 * E);
        this.result.faults.pause++;
        this.note(`pause ${m.id} until t=${m.pausedUntil}`);
        return;
      }
    }
  }

  private crash(m: Member, point: CrashPoint): void {
    m.raft = undefined;
    m.pendingCrash = undefined;
    m.downUntil = this.now + Math.max(1, m.crashDownFor);
    m.pausedUntil = -1;
    m.inbox = [];
    m.lastRole = undefined;
    this.result.faults.crash++;
    this.result.crashPoints[point]++;
    this.note(`crash ${m.id} (${point}) until t=${m.downUntil}; disk: term=${m.hardState.term} vote=${m.hardState.vote || '-'} commit=${m.hardState.commit} last=${m.storage.lastIndex()} applied=${m.applied}`);
  }

  /** (Re)builds a member's Raft from its disk. */
  private start(m: Member): void {
    m.downUntil = -1;
    m.incarnation++;
    m.raft = this.call(m, 'new Raft', () => new Raft({
      id: m.id,
      voters: [...this.voters],
      storage: m.storage,
      hardState: { ...m.hardState },
      applied: m.applied,
      electionTicks: this.cfg.electionTicks,
      heartbeatTicks: this.cfg.heartbeatTicks,
      seed: this.rng.next(),
      maxEntriesPerMsg: this.cfg.maxEntriesPerMsg,
      preVote: this.cfg.preVote,
      checkQuorum: this.cfg.checkQuorum,
    }));
    if (this.now > 0) this.note(`restart ${m.id} (term=${m.hardState.term} commit=${m.hardState.commit} applied=${m.applied} last=${m.storage.lastIndex()})`);
    this.handleReady(m);
  }

  private resume(m: Member): void {
    m.pausedUntil = -1;
    this.note(`resume ${m.id} (${m.inbox.length} buffered messages)`);
    const inbox = m.inbox;
    m.inbox = [];
    const bucket = this.queue[this.now] ?? [];
    this.queue[this.now] = bucket;
    bucket.push(...inbox);
  }

  /** The faults stop: partitions heal, crashed members restart, paused ones resume, no more drops. */
  private heal(): void {
    this.note('faults stop: heal everything');
    this.partition = undefined;
    this.blackholes = [];
    this.dropProb = 0;
    this.dupProb = 0;
    this.longDelayProb = 0;
    for (const m of this.members) {
      m.pendingCrash = undefined;
      if (m.downUntil >= 0) m.downUntil = this.now;
      if (m.pausedUntil >= 0) m.pausedUntil = this.now;
    }
  }

  // ---- client --------------------------------------------------------------------------------

  private propose(): void {
    const live = this.members.filter((m) => this.active(m));
    const targets = this.cfg.proposalTarget === 'leader' ? live.filter((m) => m.raft?.role === Role.Leader) : live;
    if (targets.length === 0) return;
    const m = this.rng.pick(targets);
    const raft = m.raft;
    if (raft === undefined) return;
    const n = this.rng.int(1, this.cfg.maxBatch);
    const payloads: string[] = [];
    for (let k = 0; k < n; k++) payloads.push(`seed-${this.cfg.seed}-op-${++this.opCounter}`);
    this.result.proposalsAttempted += n;
    let last = 0;
    try {
      last = raft.propose(payloads.map((p) => Buffer.from(p)));
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) this.raftThrew(m, 'propose', e);
      for (const p of payloads) this.proposals.set(p, { accepted: false, index: 0, term: 0 });
      this.noteRoutine(`propose ${payloads[0]}..+${n} to ${m.id}: dropped (${(e as Error).message})`);
      return;
    }
    this.result.proposalsAccepted += n;
    // A leader assigns consecutive indexes in its term; through forwarding the index is unknown.
    const known = this.cfg.proposalTarget === 'leader' && raft.role === Role.Leader;
    payloads.forEach((p, k) => this.proposals.set(p, { accepted: true, index: known ? last - n + 1 + k : 0, term: known ? raft.term : 0 }));
    this.noteRoutine(`propose ${payloads[0]}..+${n} to ${m.id} (term ${raft.term}): accepted, last index ${last}`);
    this.handleReady(m);
  }

  // ---- Ready handling ------------------------------------------------------------------------

  private handleReady(m: Member): void {
    const raft = m.raft;
    if (raft === undefined) return;
    for (let round = 0; this.call(m, 'hasReady', () => raft.hasReady()); round++) {
      if (round >= 100) this.fail('progress', `member ${m.id}: hasReady() still true after 100 Ready rounds`);
      const rd: Ready = this.call(m, 'ready', () => raft.ready());
      // 1. persist entries and hard state
      this.persist(m, rd);
      if (m.pendingCrash === 'afterPersist') return this.crash(m, 'afterPersist');
      // 2. apply
      for (let k = 0; k < rd.committedEntries.length; k++) {
        this.apply(m, rd.committedEntries[k]);
        if (m.pendingCrash === 'midApply' && k < rd.committedEntries.length - 1 && this.rng.chance(0.5)) return this.crash(m, 'midApply');
      }
      if (m.pendingCrash === 'midApply' || m.pendingCrash === 'afterApply') return this.crash(m, m.pendingCrash);
      // 3. send
      for (const msg of rd.messages) this.send(msg);
      if (m.pendingCrash === 'afterSend') return this.crash(m, 'afterSend');
      // 4. advance
      this.call(m, 'advance', () => raft.advance(rd));
    }
    this.observe(m, raft);
  }

  private persist(m: Member, rd: Ready): void {
    const es = rd.entries;
    if (es.length > 0) {
      const first = es[0].index;
      for (let k = 0; k < es.length; k++) {
        if (es[k].index !== first + k) this.fail('ready', `member ${m.id}: Ready entries not contiguous: ${es.map((e) => e.index).join(',')}`);
        if (k > 0 && es[k].term < es[k - 1].term) this.fail('ready', `member ${m.id}: Ready entry terms decrease at index ${es[k].index}`);
      }
      const last = m.storage.lastIndex();
      if (first < 1 || first > last + 1) this.fail('ready', `member ${m.id}: Ready entries start at ${first} but the stable log ends at ${last} (a gap)`);
      // Replacing the suffix must not remove or change a committed (persisted-commit) entry.
      const commit = m.hardState.commit;
      for (let i = first; i <= Math.min(last, commit); i++) {
        const old = m.storage.entry(i);
        const nw = i - first < es.length ? es[i - first] : undefined;
        if (old !== undefined && (nw === undefined || nw.term !== old.term)) {
          this.fail('committed entry kept', `member ${m.id}: Ready ${nw === undefined ? 'truncates' : 'overwrites'} committed entry ${i} (term ${old.term}${nw === undefined ? '' : ` -> term ${nw.term}`}); persisted commit ${commit}`);
        }
      }
      const cut = m.storage.append(es);
      if (cut > 0) this.note(`${m.id} truncates its log from ${first} (${cut} entries) and appends ${es.length}`);
      for (const e of es) this.checkLogMatching(m, e.index, e.term);
    }
    if (rd.hardState !== undefined) this.persistHardState(m, rd.hardState);
    const hs = m.hardState;
    if (hs.commit > m.storage.lastIndex()) this.fail('ready', `member ${m.id}: persisted commit ${hs.commit} is beyond its persisted log (last ${m.storage.lastIndex()})`);
    if (hs.commit > m.commitRecorded) this.recordCommits(m);
  }

  private persistHardState(m: Member, hs: HardState): void {
    const old = m.hardState;
    if (hs.term < old.term) this.fail('durable term', `member ${m.id}: persisted term goes back from ${old.term} to ${hs.term}`);
    if (hs.term === old.term && old.vote !== '' && hs.vote !== old.vote) {
      this.fail('one vote per term', `member ${m.id}: changes its persisted vote in term ${hs.term} from ${old.vote} to ${hs.vote || '(none)'}`);
    }
    if (hs.commit < old.commit) this.fail('durable commit', `member ${m.id}: persisted commit goes back from ${old.commit} to ${hs.commit}`);
    if (hs.vote !== '') {
      const earlier = m.votes.get(hs.term);
      if (earlier !== undefined && earlier !== hs.vote) this.fail('one vote per term', `member ${m.id}: voted for ${earlier} and then for ${hs.vote} in term ${hs.term}`);
      if (earlier === undefined) {
        m.votes.set(hs.term, hs.vote);
        if (hs.vote !== m.id) this.note(`${m.id} votes for ${hs.vote} in term ${hs.term}`);
      }
    }
    m.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** Log matching: the entry (index, term) must end the same prefix in every log that ever held it. */
  private checkLogMatching(m: Member, index: number, term: number): void {
    const hash = m.storage.prefixHash(index);
    let at = this.prefixAt[index];
    if (at === undefined) {
      at = new Map();
      this.prefixAt[index] = at;
    }
    const seen = at.get(term);
    if (seen === undefined) {
      at.set(term, { hash, member: m.id });
      return;
    }
    if (seen.hash === hash) return;
    const other = this.byId.get(seen.member);
    let diff = '';
    if (other !== undefined) {
      for (let i = 1; i <= index; i++) {
        const a = m.storage.entry(i);
        const b = other.storage.entry(i);
        if (a === undefined || b === undefined || a.term !== b.term || !a.data.equals(b.data)) {
          diff = `; first difference at index ${i}: ${m.id} has ${a === undefined ? 'nothing' : `term ${a.term} "${a.data.toString()}"`}, ${other.id} has ${b === undefined ? 'nothing' : `term ${b.term} "${b.data.toString()}"`}`;
          break;
        }
      }
    }
    this.fail('log matching', `member ${m.id} holds entry ${index} of term ${term} but its log before it differs from the one ${seen.member} held with that entry${diff}`);
  }

  /** Entries up to a member's persisted commit are committed: record them and check them against everything known. */
  private recordCommits(m: Member): void {
    const c = m.hardState.commit;
    for (let i = m.commitRecorded + 1; i <= c; i++) {
      const e = m.storage.entry(i);
      if (e === undefined) this.fail('ready', `member ${m.id}: committed index ${i} missing from its log`);
      const data = e.data.toString('latin1');
      const rec = this.committed[i];
      if (rec === undefined) this.committed[i] = { term: e.term, data, by: m.id, tick: this.now, commitTerm: m.raft?.term ?? m.hardState.term };
      else if (rec.term !== e.term || rec.data !== data) {
        this.fail('state machine safety', `index ${i} committed twice: ${rec.by} committed term ${rec.term} "${rec.data}" (t=${rec.tick}), ${m.id} commits term ${e.term} "${data}"`);
      }
    }
    const term = m.storage.term(c);
    // Raft's commit rule (Figure 2, section 5.4.2): a leader moves its commit index only to an entry
    // of its own term; older entries commit with it, never by counting their replicas (Figure 8).
    const raft = m.raft;
    if (raft !== undefined && raft.role === Role.Leader && term !== raft.term) {
      this.fail('leader commit rule', `leader ${m.id} of term ${raft.term} moved its commit index to ${c}, an entry of term ${term}`);
    }
    // A committed entry must be durable on a quorum (counting crashed members' disks).
    let holders = 0;
    for (const x of this.members) if (x.storage.lastIndex() >= c && x.storage.term(c) === term) holders++;
    if (holders < this.quorum) {
      this.fail('commit needs a quorum', `member ${m.id} committed index ${c} (term ${term}) but only ${holders} of ${this.members.length} members hold it on disk (quorum ${this.quorum})`);
    }
    m.commitRecorded = c;
  }

  private apply(m: Member, e: Entry): void {
    if (e.index !== m.applied + 1) this.fail('apply order', `member ${m.id} applies index ${e.index} after ${m.applied} (gap or repeat)`);
    if (e.index > m.hardState.commit) this.fail('apply order', `member ${m.id} applies index ${e.index} beyond its persisted commit ${m.hardState.commit}`);
    const own = m.storage.entry(e.index);
    if (own === undefined || own.term !== e.term || !own.data.equals(e.data)) {
      this.fail('apply order', `member ${m.id} applies entry ${e.index} (term ${e.term}) that differs from its own log (${own === undefined ? 'missing' : `term ${own.term}`})`);
    }
    const data = e.data.toString('latin1');
    const rec: AppliedRecord = { index: e.index, term: e.term, data };
    const longest = this.longestApplied;
    if (e.index <= longest.length) {
      const ref = longest[e.index - 1];
      if (ref.term !== rec.term || ref.data !== rec.data) {
        this.fail('state machine safety', `member ${m.id} applies term ${rec.term} "${rec.data}" at index ${e.index}, another member applied term ${ref.term} "${ref.data}" there`);
      }
    } else {
      longest.push(rec);
    }
    const known = this.committed[e.index];
    if (known === undefined || known.term !== rec.term || known.data !== rec.data) this.fail('state machine safety', `member ${m.id} applies index ${e.index} that is not the entry known committed there`);
    if (data.length > 0) {
      const at = this.appliedAt.get(data);
      if (at !== undefined && at !== e.index && !this.mayRepeat.has(data)) this.fail('state machine safety', `payload "${data}" applied at index ${at} and again at index ${e.index}`);
      const p = this.proposals.get(data);
      if (p === undefined || !p.accepted) this.fail('state machine safety', `member ${m.id} applies "${data}" at index ${e.index}, which no member accepted as a proposal`);
      if (p.index !== 0 && (p.index !== e.index || p.term !== e.term)) {
        this.fail('state machine safety', `"${data}" was accepted at index ${p.index} term ${p.term} but applied at index ${e.index} term ${e.term}`);
      }
      if (at === undefined) {
        this.appliedAt.set(data, e.index);
        this.result.proposalsCommitted++;
      }
    }
    m.appliedSeq.push(rec);
    m.applied = e.index;
  }

  // ---- observation ---------------------------------------------------------------------------

  private observe(m: Member, raft: Raft): void {
    if (raft.role === m.lastRole && raft.term === m.lastTerm) return;
    m.lastRole = raft.role;
    m.lastTerm = raft.term;
    this.note(`${m.id} is ${raft.role} in term ${raft.term}`);
    if (raft.role !== Role.Leader) return;
    const prev = this.termLeader.get(raft.term);
    if (prev === m.id) return;
    if (prev !== undefined) this.fail('election safety', `members ${prev} and ${m.id} both led term ${raft.term}`);
    this.termLeader.set(raft.term, m.id);
    this.result.leaders++;
    // The votes behind the win must be durable on a quorum.
    const voters = this.members.filter((x) => x.votes.get(raft.term) === m.id).map((x) => x.id);
    if (voters.length < this.quorum) this.fail('election safety', `member ${m.id} leads term ${raft.term} with durable votes only from [${voters.join(',')}] (quorum ${this.quorum})`);
    // Leader completeness: every entry known committed in an earlier term is in the new leader's
    // log. (A leader of an older term can still win late, e.g. after a pause, when newer terms
    // have committed more: Raft promises completeness only to leaders of later terms.)
    let known = 0;
    for (let i = 1; i < this.committed.length; i++) if ((this.committed[i]?.commitTerm ?? Infinity) < raft.term) known = i;
    const last = raft.log.lastIndex();
    if (known >= 1) {
      if (last < known) this.fail('leader completeness', `new leader ${m.id} of term ${raft.term} has last index ${last} but index ${known} was committed in term ${this.committed[known]?.commitTerm}`);
      const mine = raft.log.entries(1, known + 1);
      for (let i = 1; i <= known; i++) {
        const rec = this.committed[i];
        const e = mine[i - 1];
        if (rec === undefined || rec.commitTerm >= raft.term) continue;
        if (e === undefined || e.index !== i || e.term !== rec.term || e.data.toString('latin1') !== rec.data) {
          this.fail('leader completeness', `new leader ${m.id} of term ${raft.term} has ${e === undefined ? 'nothing' : `term ${e.term} "${e.data.toString()}"`} at index ${i}, where term ${rec.term} "${rec.data}" was committed in term ${rec.commitTerm} (first recorded by ${rec.by} at t=${rec.tick})`);
        }
      }
    }
  }

  /** Changes whenever any member persists, commits or applies more. */
  private progressMark(): number {
    let p = 0;
    for (const m of this.members) p += m.applied + 3 * m.hardState.commit + 7 * m.storage.lastIndex() + 11 * m.hardState.term;
    return p;
  }

  private converged(): boolean {
    let leader: Raft | undefined;
    for (const m of this.members) {
      const r = m.raft;
      if (r === undefined || m.pausedUntil >= 0) return false;
      if (r.role === Role.Leader) {
        if (leader !== undefined) return false;
        leader = r;
      }
    }
    if (leader === undefined) return false;
    const commit = leader.log.committed;
    if (commit !== leader.log.lastIndex()) return false;
    for (const m of this.members) {
      const r = m.raft;
      if (r === undefined || r.term !== leader.term || r.leader !== leader.id || m.applied !== commit) return false;
    }
    return true;
  }

  private finalChecks(): void {
    const leaders = this.members.filter((m) => m.raft?.role === Role.Leader);
    if (leaders.length !== 1) this.fail('liveness', `expected exactly one leader at the end, found [${leaders.map((m) => m.id).join(',')}]`);
    const ref = leaders[0].appliedSeq;
    for (const m of this.members) {
      if (m.appliedSeq.length !== ref.length) this.fail('liveness', `member ${m.id} applied ${m.appliedSeq.length} entries, leader ${leaders[0].id} ${ref.length}`);
      for (let i = 0; i < ref.length; i++) {
        const a = m.appliedSeq[i];
        const b = ref[i];
        if (a.index !== i + 1 || a.index !== b.index || a.term !== b.term || a.data !== b.data) {
          this.fail('state machine safety', `member ${m.id} applied (${a.index}, t${a.term}, "${a.data}") at position ${i + 1}, leader ${leaders[0].id} applied (${b.index}, t${b.term}, "${b.data}")`);
        }
      }
    }
    // Every proposal applied anywhere, ever, is applied everywhere.
    for (const [payload, index] of this.appliedAt) {
      for (const m of this.members) {
        if (m.appliedSeq[index - 1]?.data !== payload) this.fail('liveness', `"${payload}" was applied at index ${index} somewhere but member ${m.id} does not have it there`);
      }
    }
    // Exact log matching between every pair of stable logs.
    for (let a = 0; a < this.members.length; a++) {
      for (let b = a + 1; b < this.members.length; b++) {
        const x = this.members[a].storage;
        const y = this.members[b].storage;
        let top = Math.min(x.lastIndex(), y.lastIndex());
        while (top > 0 && x.term(top) !== y.term(top)) top--;
        for (let i = 1; i <= top; i++) {
          const ea = x.entry(i);
          const eb = y.entry(i);
          if (ea === undefined || eb === undefined || ea.term !== eb.term || !ea.data.equals(eb.data)) {
            this.fail('log matching', `members ${this.members[a].id} and ${this.members[b].id} share entry ${top} (term ${x.term(top)}) but differ at index ${i}`);
          }
        }
      }
    }
    this.result.finalLogLength = ref.length;
  }

  // ---- helpers -------------------------------------------------------------------------------

  describeMembers(): string {
    return this.members
      .map((m) => {
        const r = m.raft;
        if (r === undefined) return `${m.id}: down`;
        return `${m.id}: ${r.role} term=${r.term} leader=${r.leader ?? '-'} commit=${r.log.committed} last=${r.log.lastIndex()} applied=${m.applied}${m.pausedUntil >= 0 ? ' paused' : ''}`;
      })
      .join('; ');
  }

  /** Runs a call into the Raft core; anything it throws (other than a dropped proposal) is a bug. */
  private call<T>(m: Member, what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof InvariantViolation) throw e;
      return this.raftThrew(m, what, e);
    }
  }

  private raftThrew(m: Member, what: string, e: unknown): never {
    const err = e instanceof Error ? `${e.message}${e.stack !== undefined ? `\n    ${e.stack.split('\n').slice(1, 4).map((s) => s.trim()).join('\n    ')}` : ''}` : String(e);
    return this.fail('raft threw', `member ${m.id}: ${what}() threw ${err}`);
  }

  private note(text: string, msg?: Message, routine = false): void {
    this.trace.add(this.now, text, msg);
    if (!routine) this.keyTrace.add(this.now, text, msg);
  }

  private noteRoutine(text: string): void {
    this.trace.add(this.now, text);
  }

  private fail(invariant: string, detail: string): never {
    throw new InvariantViolation(this.cfg.seed, invariant, detail, this.now, this.trace.lines(), this.keyTrace.lines(), this.cfg);
  }
}

export function runSeed(seed: number, overrides: Partial<SimConfig> = {}): SimResult {
  return new Simulation(configForSeed(seed, overrides)).run();
}

// ---- totals ----------------------------------------------------------------------------------

export interface SimTotals {
  seeds: number;
  threeMember: number;
  fiveMember: number;
  ticks: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesCut: number;
  faults: Record<FaultKind, number>;
  crashPoints: Record<CrashPoint, number>;
  proposalsAccepted: number;
  proposalsCommitted: number;
  leaders: number;
  maxQuietTicks: number;
}

export function emptyTotals(): SimTotals {
  return {
    seeds: 0,
    threeMember: 0,
    fiveMember: 0,
    ticks: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesCut: 0,
    faults: emptyFaultCounts(),
    crashPoints: { idle: 0, afterPersist: 0, midApply: 0, afterApply: 0, afterSend: 0 },
    proposalsAccepted: 0,
    proposalsCommitted: 0,
    leaders: 0,
    maxQuietTicks: 0,
  };
}

export function addResult(t: SimTotals, r: SimResult): void {
  t.seeds++;
  if (r.members === 3) t.threeMember++;
  else t.fiveMember++;
  t.ticks += r.ticks;
  t.messagesSent += r.messagesSent;
  t.messagesDelivered += r.messagesDelivered;
  t.messagesCut += r.messagesCut;
  for (const k of FAULT_KINDS) t.faults[k] += r.faults[k];
  for (const k of CRASH_POINTS) t.crashPoints[k] += r.crashPoints[k];
  t.proposalsAccepted += r.proposalsAccepted;
  t.proposalsCommitted += r.proposalsCommitted;
  t.leaders += r.leaders;
  t.maxQuietTicks = Math.max(t.maxQuietTicks, r.quietTicks);
}

/** One line: seeds run, then totals over the seeds that passed. */
export function formatTotals(t: SimTotals, seedsRun: number = t.seeds): string {
  const faults = FAULT_KINDS.map((k) => `${k}=${t.faults[k]}`).join(' ');
  const points = (Object.keys(t.crashPoints) as CrashPoint[]).map((k) => `${k}=${t.crashPoints[k]}`).join(' ');
  return (
    `raft-sim: ${seedsRun} seeds run, ${t.seeds} passed (${t.threeMember}x3, ${t.fiveMember}x5 members)` +
    `; over the passed seeds: ${t.ticks} ticks, ` +
    `${t.messagesSent} messages sent (${t.messagesDelivered} delivered, ${t.messagesCut} cut by partitions/blackholes), ` +
    `faults injected: ${faults} (crash points: ${points}), ${t.leaders} leaders elected, ` +
    `proposals committed ${t.proposalsCommitted} of ${t.proposalsAccepted} accepted, longest convergence ${t.maxQuietTicks} ticks`
  );
}

// Replay from the command line: node dist/test/raft-sim/cluster-sim.js <seed> [traceSize]
if (require.main === module) {
  const seed = Number(process.argv[2] ?? '1');
  const traceSize = Number(process.argv[3] ?? '400');
  try {
    const r = runSeed(seed, { traceSize });
    const t = emptyTotals();
    addResult(t, r);
    console.log(`config: ${describeConfig(configForSeed(seed))}`);
    console.log(formatTotals(t));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  }
}
