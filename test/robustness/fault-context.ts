// What a fault implementation (faults-*.ts) gets from the injector: the cluster, the run's PRNG
// and recorder, target choice by role, scaled hold times, and the two moments the liveness check
// needs: when the fault began (begin) and when it was lifted (lifted). A fault heals what it did
// before it returns; the injector heals anything left over.
import type { ClusterControl, Member } from './cluster-control';
import type { Filler } from './filler';
import type { FuzzResult } from './fuzz';
import type { Fault, FaultKind } from './history';
import type { Prng } from './prng';
import type { Recorder } from './recorder';

export type RunFuzz = (endpoints: string[], seed: number, durationMs: number) => Promise<FuzzResult>;

export interface Target {
  m: Member;
  /** 'leader', 'follower', or 'member' when no leader was agreed on. */
  role: string;
}

export interface FaultContext {
  readonly cluster: ClusterControl;
  readonly rec: Recorder;
  readonly prng: Prng;
  /** Writers for faults that need many Raft entries (snapshot-catch-up). */
  readonly filler: Filler;
  readonly runFuzz: RunFuzz;
  /** --snapshot-count of the members (etcd-ts keeps min(it, 10,000) entries of log). */
  readonly snapshotCount: number;
  /** Records the fault (its detail may be extended as it goes). */
  begin(kind: FaultKind, target: string, detail: string): Fault;
  /** The fault is lifted now: the liveness bound counts from the last call. */
  lifted(): void;
  /** The leader (half of the time) or a follower. */
  target(): Promise<Target>;
  /** A follower (any member when no leader is agreed on). */
  follower(): Promise<Target>;
  /** The leader (any member when no leader is agreed on). */
  leader(): Promise<Target>;
  /** A random quorum (2 of 3), with their roles. */
  quorum(): Promise<Target[]>;
  /** Sleeps a random time in [loMs, hiMs] scaled by the run's hold scale; returns the ms slept. */
  hold(loMs: number, hiMs: number): Promise<number>;
  /** A live member's endpoint, not avoid's if there is another. */
  liveEndpoint(avoid?: Member): string;
  /**
   * For faults made of steps (rolling restarts): waits until `only` (default: every member) is
   * healthy, measuring from the last lifted(), as one liveness sample of the fault's kind.
   */
  stepHealthy(only?: Member[]): Promise<number>;
}

export type FaultFn = (ctx: FaultContext, kind: FaultKind) => Promise<Fault>;

export const describeTargets = (ts: Target[]): string => ts.map((t) => `${t.m.name} (${t.role})`).join(', ');

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
