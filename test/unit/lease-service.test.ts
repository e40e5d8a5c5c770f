// The leader's lease lookups (LeaseTimeToLive, a renewal of a lease it does not know) wait for it
// to apply what it has committed, as etcd's waitAppliedIndex does: a follower can apply a grant,
// or a put with the lease, before the leader does, and acknowledge it to the client. The lessor
// and the member around the service are stand-ins here; the service's logic is what is tested.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { EtcdError } from '../../src/errors';
import { LeaseService, type LeaseServiceDeps } from '../../src/lease/lease-service';
import type { Lessor } from '../../src/lease/lessor';

/** A primary lessor holding what has been "applied" so far. */
class AppliedLeases {
  readonly leases = new Map<bigint, { ttl: number; keys: string[] }>();
  isPrimary = (): boolean => true;
  ids = (): bigint[] => [...this.leases.keys()];
  expired = (): bigint[] => [];
  promote = (): void => undefined;
  demote = (): void => undefined;
  postpone = (): void => undefined;
  renew = (id: bigint): number => this.leases.get(id)?.ttl ?? -1;
  timeToLive = (id: bigint): { ttl: number; grantedTtl: number; keys: Buffer[] } | undefined => {
    const l = this.leases.get(id);
    return l === undefined ? undefined : { ttl: l.ttl, grantedTtl: l.ttl, keys: l.keys.map((k) => Buffer.from(k)) };
  };
}

const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** The service's own waits (leadership, progress): they must not keep the test process up. */
const idle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

function service(lessor: AppliedLeases, appliedCommitted: LeaseServiceDeps['appliedCommitted']): LeaseService {
  return new LeaseService({
    lessor: lessor as unknown as Lessor,
    proposeGrant: () => Promise.reject(new Error('not in this test')),
    proposeRevoke: () => Promise.reject(new Error('not in this test')),
    expiryCaller: { user: 'root', revision: 0 } as unknown as LeaseServiceDeps['expiryCaller'],
    forwardRenew: () => Promise.reject(new Error('not in this test')),
    forwardTimeToLive: () => Promise.reject(new Error('not in this test')),
    isReadyLeader: () => true,
    isLeader: () => true,
    progress: idle,
    appliedCommitted,
    leaderChange: idle,
    memberId: 1n,
    electionTimeoutMs: 1000,
    log: pino({ level: 'silent' }),
  });
}

describe('lease lookups on the leader wait for what it committed to be applied', () => {
  test('TimeToLive answers with the key a follower acknowledged before the leader applied it', async () => {
    const lessor = new AppliedLeases();
    lessor.leases.set(7n, { ttl: 10, keys: ['ttl/a'] });
    // Committed but not yet applied here: the put of ttl/b.
    const s = service(lessor, async () => {
      await later(20);
      lessor.leases.get(7n)?.keys.push('ttl/b');
      return true;
    });
    try {
      const t = await s.timeToLiveHere(7n, true);
      assert.deepEqual(t.keys.map((k) => Buffer.from(k, 'base64').toString()).sort(), ['ttl/a', 'ttl/b']);
    } finally {
      s.close();
    }
  });

  test("a renewal of a lease granted through a follower finds it once the leader applied the grant", async () => {
    const lessor = new AppliedLeases();
    let waited = 0;
    const s = service(lessor, async () => {
      waited++;
      await later(20);
      lessor.leases.set(9n, { ttl: 30, keys: [] });
      return true;
    });
    try {
      assert.equal(await s.renewHere(9n), 30);
      assert.equal(waited, 1);
      assert.equal(await s.renewHere(9n), 30);
      assert.equal(waited, 1, 'a lease the leader knows is renewed without waiting');
    } finally {
      s.close();
    }
  });

  test("a leader that does not apply in time answers etcd's error", async () => {
    const s = service(new AppliedLeases(), () => Promise.resolve(false));
    try {
      await assert.rejects(s.timeToLiveHere(7n, false), (err: unknown) => {
        assert.ok(err instanceof EtcdError);
        assert.equal(err.code, 14);
        assert.equal(err.message, 'etcdserver: request timed out, waiting for the applied index took too long');
        return true;
      });
    } finally {
      s.close();
    }
  });
});
