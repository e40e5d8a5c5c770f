// Password hashing for the auth store, done BEFORE proposing (etcd 3.5's v3_server.go UserAdd /
// UserChangePassword hash and put the hash in AuthUserAddRequest.hashedPassword, base64; its
// Authenticate checks the password against the stored hash, then proposes): apply never runs
// bcrypt, so it stays deterministic and fast.
//
// bcryptjs (pure JS, no native build; hashes are the "$2a$" text Go's x/crypto/bcrypt writes and
// reads, so users move between etcd and etcd-ts) runs on worker threads: at cost 10 one hash is
// ~100 ms of CPU that would otherwise stall every request. Bounded: `workers` threads, at most
// `maxQueued` jobs waiting (past that: "etcdserver: too many requests"). Idle workers do not keep
// the process alive. If the worker script cannot start, hashing runs on this thread (bcryptjs'
// async API, which yields every 100 ms).
//
// Usage: hasher.hashForRequest(password) -> AuthUserAddRequest/ChangePasswordRequest.hashedPassword;
// AuthStore.checkPassword(name, password, hasher) before proposing Authenticate.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as bcrypt from 'bcryptjs';
import { Errors } from '../errors';
import { AuthErrors } from './errors';

/** golang.org/x/crypto/bcrypt's MinCost, MaxCost and DefaultCost: etcd's --bcrypt-cost bounds. */
export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;
/** Go's GenerateFromPassword refuses longer passwords (bcrypt reads only 72 bytes). */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

/** etcd's NewAuthStore: a cost outside [4, 31] is replaced by the default (with a warning). */
export function normalizeBcryptCost(cost: number): { cost: number; replaced: boolean } {
  if (!Number.isInteger(cost) || cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) return { cost: BCRYPT_DEFAULT_COST, replaced: true };
  return { cost, replaced: false };
}

/** One bcrypt hash, "$2a$" as Go writes it (bcryptjs writes "$2b$": the same algorithm below 256 bytes). */
export function bcryptHash(password: string, cost: number): string {
  const salt = bcrypt.genSaltSync(cost).replace(/^\$2b\$/, '$2a$');
  return bcrypt.hashSync(password, salt);
}

/** Whether password matches the hash; false for anything that is not a bcrypt hash. */
export function bcryptCompare(password: string, hash: string): boolean {
  try {
    return bcrypt.compareSync(password, hash);
  } catch {
    return false;
  }
}

export type HashJob = { id: number; op: 'hash'; password: string; cost: number } | { id: number; op: 'compare'; password: string; hash: string };
export type HashReply = { id: number; value: string | boolean } | { id: number; error: string };

export interface PasswordHasherOptions {
  /** --bcrypt-cost; normalized as etcd does. */
  cost?: number;
  /** Worker threads (default 1). */
  workers?: number;
  /** Jobs waiting for a worker before new ones are refused (default 256). */
  maxQueued?: number;
  /** Run on this thread (tests, or where worker threads are unwanted). */
  inline?: boolean;
}

interface Pending {
  job: HashJob;
  resolve: (v: string | boolean) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job?: Pending;
}

const WORKER_SCRIPT = join(__dirname, 'bcrypt-worker.js');

export class PasswordHasher {
  readonly cost: number;
  private readonly maxWorkers: number;
  private readonly maxQueued: number;
  private inline: boolean;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: PasswordHasherOptions = {}) {
    this.cost = normalizeBcryptCost(options.cost ?? BCRYPT_DEFAULT_COST).cost;
    this.maxWorkers = Math.max(1, options.workers ?? 1);
    this.maxQueued = Math.max(0, options.maxQueued ?? 256);
    this.inline = options.inline === true || !existsSync(WORKER_SCRIPT);
  }

  /** The bcrypt hash text of password ("$2a$<cost>$..."). */
  async hash(password: string): Promise<string> {
    if (Buffer.byteLength(password) > BCRYPT_MAX_PASSWORD_BYTES) throw AuthErrors.passwordTooLong();
    const v = await this.run({ id: this.nextId++, op: 'hash', password, cost: this.cost });
    if (typeof v !== 'string') throw new Error('bcrypt worker: bad reply');
    return v;
  }

  /** What etcd puts in AuthUserAddRequest / AuthUserChangePasswordRequest.hashedPassword: base64 of the hash. */
  async hashForRequest(password: string): Promise<string> {
    return Buffer.from(await this.hash(password)).toString('base64');
  }

  /** Whether password matches a stored hash (the bytes of a User's password field, or its text). */
  async compare(password: string, hash: Buffer | string): Promise<boolean> {
    const text = typeof hash === 'string' ? hash : hash.toString('latin1');
    const v = await this.run({ id: this.nextId++, op: 'compare', password, hash: text });
    return v === true;
  }

  /** Stops the workers; jobs not finished are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(Errors.stopped());
    const slots = this.slots.splice(0);
    for (const s of slots) s.job?.reject(Errors.stopped());
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private run(job: HashJob): Promise<string | boolean> {
    if (this.closed) return Promise.reject(Errors.stopped());
    if (this.inline) return runInline(job);
    return new Promise((resolve, reject) => {
      const idle = this.idleSlot();
      if (idle !== undefined) {
        this.start(idle, { job, resolve, reject });
        return;
      }
      if (this.queue.length >= this.maxQueued) {
        reject(Errors.tooManyRequests());
        return;
      }
      this.queue.push({ job, resolve, reject });
    });
  }

  private idleSlot(): Slot | undefined {
    const idle = this.slots.find((s) => s.job === undefined);
    if (idle !== undefined || this.slots.length >= this.maxWorkers) return idle;
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SCRIPT);
    } catch {
      return undefined;
    }
    const slot: Slot = { worker };
    worker.unref();
    worker.on('message', (reply: HashReply) => this.finish(slot, reply));
    worker.on('error', (err) => this.fail(slot, err));
    worker.on('exit', () => this.fail(slot, new Error('bcrypt worker exited')));
    this.slots.push(slot);
    return slot;
  }

  private start(slot: Slot, p: Pending): void {
    slot.job = p;
    // Referenced while working: a caller awaiting a hash keeps the process alive.
    slot.worker.ref();
    slot.worker.postMessage(p.job);
  }

  private finish(slot: Slot, reply: HashReply): void {
    const p = slot.job;
    slot.job = undefined;
    slot.worker.unref();
    if (p !== undefined && p.job.id === reply.id) {
      if ('error' in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.value);
    }
    const next = this.queue.shift();
    if (next !== undefined) this.start(slot, next);
  }

  /** A worker died: its job fails, the slot is dropped, queued jobs go to a fresh worker. */
  private fail(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    slot.job?.reject(err);
    slot.job = undefined;
    void slot.worker.terminate();
    if (this.closed) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    const fresh = this.idleSlot();
    if (fresh !== undefined) this.start(fresh, next);
    else {
      this.inline = true;
      runInline(next.job).then(next.resolve, next.reject);
    }
  }
}

/** On this thread, through bcryptjs' async API (which yields to the event loop between slices). */
async function runInline(job: HashJob): Promise<string | boolean> {
  if (job.op === 'hash') {
    const salt = (await bcrypt.genSalt(job.cost)).replace(/^\$2b\$/, '$2a$');
    return bcrypt.hash(job.password, salt);
  }
  try {
    return await bcrypt.compare(job.password, job.hash);
  } catch {
    return false;
  }
}
