// The requests of a differential run. A step is what both servers are sent; lease IDs that a
// server chose itself (a grant with ID 0) differ between the two, so requests name them by slot
// (AutoLease) and each side resolves the slot to the ID it handed out.
import type { Msg } from '../helpers/grpc-client';

export type { Msg };

/** The n-th lease granted with ID 0 in this run (since the last restart). */
export class AutoLease {
  constructor(readonly slot: number) {}
  toJSON(): string {
    return `auto#${this.slot}`;
  }
}

export type UnaryService = 'KV' | 'Lease';

export interface UnaryStep {
  kind: 'unary';
  service: UnaryService;
  method: string;
  req: Msg;
  /** LeaseGrant with ID 0: the slot its ID fills. */
  grantSlot?: number;
}

/** Watch streams are numbered; each side opens its own stream for a number on first use. */
export interface WatchCreateStep {
  kind: 'watch-create';
  stream: number;
  req: Msg;
}

export interface WatchCancelStep {
  kind: 'watch-cancel';
  stream: number;
  watchId: number;
}

export interface WatchProgressStep {
  kind: 'watch-progress';
  stream: number;
}

/** Ends a stream (its watchers with it); the next create on its number opens a new one. */
export interface WatchCloseStep {
  kind: 'watch-close';
  stream: number;
}

export type Step = UnaryStep | WatchCreateStep | WatchCancelStep | WatchProgressStep | WatchCloseStep;

/** Methods that may change the store: a mismatch in one may mean the stores diverged. */
export const MUTATING = new Set(['Put', 'DeleteRange', 'Txn', 'Compact', 'LeaseGrant', 'LeaseRevoke']);

export function stepName(s: Step): string {
  return s.kind === 'unary' ? `${s.service}.${s.method}` : `Watch.${s.kind.slice('watch-'.length)}`;
}

/** A copy of `req` with every AutoLease replaced by the ID `resolve` gives for its slot. */
export function resolveLeases(req: unknown, resolve: (slot: number) => string): unknown {
  if (req instanceof AutoLease) return resolve(req.slot);
  if (Buffer.isBuffer(req)) return req;
  if (Array.isArray(req)) return req.map((x) => resolveLeases(x, resolve));
  if (req !== null && typeof req === 'object') {
    const out: Msg = {};
    for (const [k, v] of Object.entries(req)) out[k] = resolveLeases(v, resolve);
    return out;
  }
  return req;
}
