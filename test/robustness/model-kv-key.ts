// The sequential specification of one etcd key, for the per-key linearizability search. Besides
// the key's KeyValue fields it tracks the highest revision the key's history has reached (its last
// write, or a later revision a linearizable read of it was served at): writes must come in
// increasing revision order and a read cannot be served below a write it follows, which is what
// makes the search nearly deterministic.
import { ABSENT } from './check-events';

export interface KeyState {
  value: string | null;
  modRevision: number;
  createRevision: number;
  version: number;
  /** The lease the current version was put with. */
  lease: string | undefined;
  revision: number;
}

export const INITIAL_KEY_STATE: KeyState = Object.freeze({ ...ABSENT, lease: undefined, revision: 0 });

export type KeyOp =
  /** A put, or a txn whose compare held (expectModRev set). createRevision/version: from its event. */
  | { kind: 'put'; revision: number; value: string; lease?: string; expectModRev?: number; createRevision: number; version: number }
  /** A delete call that deleted the key. */
  | { kind: 'delete'; revision: number }
  /** The key removed by its lease's revoke or expiry. */
  | { kind: 'lease-delete'; revision: number; lease: string }
  /**
   * Served at header revision `revision`, saw (value, modRevision): a get, a txn whose compare
   * failed (failedCompare = the expected mod_revision), or a delete that found nothing (null, 0).
   */
  | { kind: 'read'; revision: number; value: string | null; modRevision: number; failedCompare?: number };

/** The next state, or undefined if op cannot happen in state s. */
export function stepKey(s: KeyState, op: KeyOp): KeyState | undefined {
  switch (op.kind) {
    case 'put': {
      if (op.revision <= s.revision) return undefined;
      if (op.expectModRev !== undefined && op.expectModRev !== s.modRevision) return undefined;
      const exists = s.value !== null;
      const createRevision = exists ? s.createRevision : op.revision;
      const version = s.version + 1;
      if (createRevision !== op.createRevision || version !== op.version) return undefined;
      return { value: op.value, modRevision: op.revision, createRevision, version, lease: op.lease, revision: op.revision };
    }
    case 'delete':
    case 'lease-delete':
      if (op.revision <= s.revision || s.value === null) return undefined;
      if (op.kind === 'lease-delete' && s.lease !== op.lease) return undefined;
      return { ...INITIAL_KEY_STATE, revision: op.revision };
    case 'read':
      if (op.revision < s.revision || op.value !== s.value || op.modRevision !== s.modRevision) return undefined;
      if (op.failedCompare !== undefined && op.failedCompare === s.modRevision) return undefined;
      return op.revision === s.revision ? s : { ...s, revision: op.revision };
  }
}

export const keyStateId = (s: KeyState): string => JSON.stringify([s.value, s.modRevision, s.createRevision, s.version, s.lease ?? null, s.revision]);

/** Where the op sits in the revision order (write R: 2R, read at R: 2R + 1): the search tries lower first. */
export const keyOpPlace = (op: KeyOp): number => 2 * op.revision + (op.kind === 'read' ? 1 : 0);
