// Acceptance (Leases issue, item 3): leases on a 3-member cluster. LeaseTimeToLive and keep-alives
// sent to a follower answer what the leader answers; and when the leader is SIGKILLed, leases a
// client keeps alive through the survivors (a keep-alive stream to a follower, forwarded to the
// leader) live on, leases nobody keeps alive expire on schedule under the new leader, and every
// member (the restarted one too) agrees on which keys are left: same HashKV at the same revision.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startCluster, until, waitForLeader, type Cluster } from './helpers/cluster';
import { b, call, kvClient, maintenanceClient, serviceClient, type Msg } from './helpers/grpc-client';

/** TTL of the leases of the kill test, in seconds. */
const TTL = 4;
/** etcd-ts's default election timeout. */
const ELECTION_MS = 1000;
/** Slack for the expiry checks (500 ms expiry ticks, a Raft round, a loaded 2-core machine). */
const MARGIN_MS = 3000;
const LEASES = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Duplex = grpc.ClientDuplexStream<Msg, Msg>;

function keepAliveStream(c: grpc.Client): Duplex {
  return (c as unknown as { LeaseKeepAlive: () => Duplex }).LeaseKeepAlive();
}

/** One keep-alive round trip on a fresh stream: the response to a single renewal. */
async function keepAliveOnce(ep: string, id: string): Promise<Msg> {
  const c = serviceClient('Lease', ep);
  const s = keepAliveStream(c);
  try {
    return await new Promise<Msg>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no keep-alive answer from ${ep} within 10 s`)), 10_000);
      s.on('data', (m: Msg) => (clearTimeout(t), resolve(m)));
      s.on('error', (e: Error) => (clearTimeout(t), reject(e)));
      s.write({ ID: id });
    });
  } finally {
    s.end();
    s.cancel();
    c.close();
  }
}

/**
 * Keeps leases alive over one LeaseKeepAlive stream, renewing every intervalMs, and records the
 * answers. When the stream fails it reconnects to the next endpoint that live() names.
 */
class KeepAliver {
  /** Lease ID -> time (ms) and TTL of the last answer with TTL > 0. */
  readonly last = new Map<string, { at: number; ttl: number }>();
  /** Answers that said the lease is gone (TTL <= 0). */
  readonly lost: string[] = [];
  /** Why and when (ms) each stream failed. */
  readonly streamErrors: { at: number; why: string }[] = [];
  readonly firstEndpoint: string;
  endpoint: string;
  private client: grpc.Client | undefined;
  private stream: Duplex | undefined;
  private gen = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly ids: string[],
    endpoint: string,
    private readonly live: () => string[],
    intervalMs: number,
  ) {
    this.endpoint = endpoint;
    this.firstEndpoint = endpoint;
    this.open(endpoint);
    this.timer = setInterval(() => this.send(), intervalMs);
  }

  private open(ep: string): void {
    this.endpoint = ep;
    const gen = ++this.gen;
    this.client?.close();
    this.client = serviceClient('Lease', ep);
    const s = keepAliveStream(this.client);
    this.stream = s;
    s.on('data', (m: Msg) => {
      const ttl = Number(m.TTL);
      if (ttl > 0) this.last.set(String(m.ID), { at: Date.now(), ttl });
      else this.lost.push(`${String(m.ID)} TTL ${ttl} from ${ep}`);
    });
    const failed = (why: string): void => {
      if (this.closed || gen !== this.gen) return;
      this.streamErrors.push({ at: Date.now(), why: `${ep}: ${why}` });
      // Reconnect to another live member (or the same, if it is the only one), then renew at once.
      const eps = this.live();
      const next = eps[(eps.indexOf(ep) + 1) % eps.length] ?? ep;
      setTimeout(() => {
        if (this.closed || gen !== this.gen) return;
        this.open(next);
        this.send();
      }, 100);
    };
    s.on('error', (e: Error) => failed(e.message));
    s.on('end', () => failed('stream ended'));
    this.send();
  }

  private send(): void {
    if (this.closed || this.stream === undefined) return;
    for (const id of this.ids) this.stream.write({ ID: id });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.stream?.end();
    this.stream?.cancel();
    this.client?.close();
  }
}

describe('leases on a 3-member cluster', () => {
  let cluster: Cluster;
  const clients: grpc.Client[] = [];
  const keepers: KeepAliver[] = [];
  const lease = (ep: string): grpc.Client => {
    const c = serviceClient('Lease', ep);
    clients.push(c);
    return c;
  };
  const kv = (ep: string): grpc.Client => {
    const c = kvClient(ep);
    clients.push(c);
    return c;
  };

  /** The index of the member that leads, once all live members agree. */
  async function leaderIndex(eps: string[], not?: string): Promise<number> {
    const id = await waitForLeader(eps, 15_000, not);
    const idx = cluster.members.findIndex((m) => m.id === id);
    assert.ok(idx >= 0, `leader ${id} is a member`);
    return idx;
  }

  before(async () => {
    cluster = await startCluster(3);
    await waitForLeader(cluster.endpoints(), 10_000);
    // A lease granted before the new leader's lessor takes over would get an election timeout
    // more (as in etcd); LeaseTimeToLive on the leader waits for the takeover.
    const li = await leaderIndex(cluster.endpoints());
    assert.equal(Number((await call(lease(cluster.endpoints()[li]), 'LeaseTimeToLive', { ID: '1' })).TTL), -1);
  });

  after(async () => {
    for (const k of keepers) k.close();
    for (const c of clients) c.close();
    for (const m of cluster?.members ?? []) {
      const err = m.process?.stderr() ?? '';
      if (/"level":"(error|fatal)"|Error/.test(err)) process.stdout.write(`# ${m.name} stderr:\n${err.split('\n').map((l) => `#   ${l}`).join('\n')}\n`);
    }
    await cluster?.cleanup();
  });

  test('LeaseTimeToLive and keep-alives sent to a follower answer what the leader answers', async () => {
    const eps = cluster.endpoints();
    const li = await leaderIndex(eps);
    const leader = eps[li];
    const [f1, f2] = eps.filter((_, i) => i !== li);
    // Granted through a follower; keys attached through the other.
    const granted = await call(lease(f1), 'LeaseGrant', { TTL: 10, ID: 0 });
    assert.equal(Number(granted.TTL), 10);
    const id = String(granted.ID);
    assert.notEqual(id, '0');
    await call(kv(f2), 'Put', { key: b('ttl/a'), value: b('1'), lease: id });
    await call(kv(f2), 'Put', { key: b('ttl/b'), value: b('2'), lease: id });

    const ttlOf = (ep: string, lid = id): Promise<Msg> => call(lease(ep), 'LeaseTimeToLive', { ID: lid, keys: true });
    // In quick succession: leader, follower, follower, leader. Remaining time only goes down, so
    // each follower's answer lies between the leader's two.
    const first = await ttlOf(leader);
    const viaF1 = await ttlOf(f1);
    const viaF2 = await ttlOf(f2);
    const last = await ttlOf(leader);
    const ttls = [first, viaF1, viaF2, last].map((r) => Number(r.TTL));
    assert.ok(ttls[0] <= 10 && ttls[0] >= 8, `leader TTL ${ttls[0]}`);
    assert.ok(ttls[0] >= ttls[1] && ttls[1] >= ttls[2] && ttls[2] >= ttls[3], `TTLs leader, f1, f2, leader: ${ttls.join(' ')}`);
    assert.ok(ttls[0] - ttls[3] <= 1, `TTLs leader, f1, f2, leader: ${ttls.join(' ')}`);
    for (const r of [first, viaF1, viaF2, last]) {
      assert.equal(String(r.ID), id);
      assert.equal(Number(r.grantedTTL), 10);
      assert.deepEqual((r.keys as Buffer[]).map((k) => k.toString()).sort(), ['ttl/a', 'ttl/b']);
    }

    // Let it run down, then renew through a follower: the leader's clock restarts.
    await sleep(2300);
    const before = Number((await ttlOf(leader)).TTL);
    assert.ok(before <= 7, `after 2.3 s the leader reports TTL ${before}`);
    const ka = await keepAliveOnce(f1, id);
    assert.equal(String(ka.ID), id);
    assert.equal(Number(ka.TTL), 10, 'a keep-alive through a follower answers the granted TTL');
    const afterLeader = Number((await ttlOf(leader)).TTL);
    const afterFollower = Number((await ttlOf(f2)).TTL);
    assert.ok(afterLeader >= 9, `the follower's keep-alive reached the leader: TTL ${afterLeader} there`);
    assert.ok(afterFollower >= 9 && afterFollower <= afterLeader, `TTL through the other follower: ${afterFollower} (leader ${afterLeader})`);
    const kaLeader = await keepAliveOnce(leader, id);
    assert.equal(String(kaLeader.ID), id);
    assert.equal(Number(kaLeader.TTL), 10, 'a keep-alive to the leader answers the granted TTL');

    // A lease that does not exist: TTL -1 from LeaseTimeToLive, 0 from a keep-alive, everywhere.
    const missing = '7777777';
    for (const ep of [leader, f1, f2]) {
      const t = await ttlOf(ep, missing);
      assert.equal(Number(t.TTL), -1, `LeaseTimeToLive of a missing lease on ${ep}`);
      const k = await keepAliveOnce(ep, missing);
      assert.equal(Number(k.TTL), 0, `keep-alive of a missing lease on ${ep}`);
      assert.equal(String(k.ID), missing);
    }

    // Revoked through a follower: gone for every member, with its keys.
    await call(lease(f2), 'LeaseRevoke', { ID: id });
    for (const ep of [leader, f1, f2]) {
      assert.equal(Number((await ttlOf(ep)).TTL), -1, `revoked lease on ${ep}`);
      assert.equal(Number((await keepAliveOnce(ep, id)).TTL), 0, `keep-alive of a revoked lease on ${ep}`);
    }
    const left = await call(kv(f1), 'Range', { key: b('ttl/'), range_end: b('ttl0') });
    assert.equal(left.kvs.length, 0, 'the revoked lease took its keys');
  });

  test('SIGKILL the leader: kept-alive leases live on, the others expire on schedule, all members agree', async () => {
    const eps = cluster.endpoints();
    const li = await leaderIndex(eps);
    const oldLeaderId = cluster.members[li].id;
    const survivors = eps.filter((_, i) => i !== li);
    const down = new Set<number>();
    const live = (): string[] => eps.filter((_, i) => !down.has(i) && i !== li);

    // 20 leases, granted round-robin through every member, two keys each.
    const kept: string[] = [];
    const unkept: string[] = [];
    const keysOf = new Map<string, string[]>();
    await Promise.all(
      Array.from({ length: LEASES }, async (_, i) => {
        const ep = eps[i % 3];
        const g = await call(lease(ep), 'LeaseGrant', { TTL, ID: 0 });
        assert.equal(Number(g.TTL), TTL);
        const id = String(g.ID);
        const tag = i % 2 === 0 ? 'k' : 'u';
        const keys = [`lc/${tag}${String(i).padStart(2, '0')}/a`, `lc/${tag}${String(i).padStart(2, '0')}/b`];
        for (const [j, key] of keys.entries()) await call(kv(eps[(i + j + 1) % 3]), 'Put', { key: b(key), value: b(id), lease: id });
        keysOf.set(id, keys);
        (tag === 'k' ? kept : unkept).push(id);
      }),
    );
    const keptKeys = kept.flatMap((id) => keysOf.get(id) ?? []).sort();
    const unkeptKeys = unkept.flatMap((id) => keysOf.get(id) ?? []).sort();

    // Half kept alive, over two streams, one to each follower (renewals are forwarded to the
    // leader). After the kill, at least one of the two is still a follower.
    const half = Math.ceil(kept.length / 2);
    keepers.push(new KeepAliver(kept.slice(0, half), survivors[0], live, 1000));
    keepers.push(new KeepAliver(kept.slice(half), survivors[1], live, 1000));

    await sleep(1500);
    for (const k of keepers) for (const id of k.ids) assert.ok(k.last.has(id), `lease ${id} renewed through follower ${k.endpoint} before the kill`);
    const pre = await call(kv(survivors[0]), 'Range', { key: b('lc/'), range_end: b('lc0'), keys_only: true });
    assert.deepEqual(pre.kvs.map((x: Msg) => x.key.toString()), [...keptKeys, ...unkeptKeys].sort(), 'every key exists before the kill');

    const killedAt = Date.now();
    await cluster.kill(li);
    down.add(li);
    const newLi = await leaderIndex(survivors, oldLeaderId);
    const electedAt = Date.now();
    process.stdout.write(`# new leader m${newLi + 1} ${electedAt - killedAt} ms after the kill\n`);

    // Watch the keys through the survivors until 3 TTLs after the kill.
    const goneAt = new Map<string, number>();
    const missingKept: string[] = [];
    const readers = survivors.map((ep) => kv(ep));
    let lastRead: { at: number; keys: string[]; revision: number } | undefined;
    const keptUntil = killedAt + 3 * TTL * 1000;
    for (let n = 0; (lastRead?.at ?? 0) < keptUntil || goneAt.size < unkeptKeys.length; n++) {
      if (Date.now() > electedAt + TTL * 1000 + ELECTION_MS + MARGIN_MS + 5000) break;
      const startedAt = Date.now();
      try {
        const r = await call(readers[n % 2], 'Range', { key: b('lc/'), range_end: b('lc0'), keys_only: true }, 2000);
        const keys: string[] = r.kvs.map((x: Msg) => x.key.toString());
        const present = new Set(keys);
        for (const k of keptKeys) if (!present.has(k)) missingKept.push(`${k} at +${startedAt - killedAt} ms`);
        for (const k of unkeptKeys) if (!present.has(k) && !goneAt.has(k)) goneAt.set(k, Date.now());
        lastRead = { at: startedAt, keys, revision: Number(r.header.revision) };
      } catch {
        // No leader yet: reads wait for the election.
      }
      await sleep(250);
    }
    const errorsOf = (k: KeepAliver): string => k.streamErrors.map((e) => `+${e.at - killedAt} ms ${e.why}`).join('; ');
    const report = (): string =>
      keepers
        .map((k) => `stream opened to ${k.firstEndpoint}${k.firstEndpoint === eps[newLi] ? ' (became the new leader)' : ' (stayed a follower)'}, now on ${k.endpoint}: last renewals ${k.ids.map((id) => `+${(k.last.get(id)?.at ?? killedAt) - killedAt}`).join(',')} ms after the kill; TTL<=0 answers [${k.lost.slice(0, 3).join('; ')}]${k.lost.length > 3 ? ` +${k.lost.length - 3} more` : ''}; stream errors [${errorsOf(k)}]`)
        .join(' | ');
    assert.deepEqual(missingKept.slice(0, 4), [], `kept-alive keys never disappear (${missingKept.length} misses); keep-alives: ${report()}`);
    assert.ok(lastRead !== undefined && lastRead.at >= keptUntil, `a read 3 TTLs after the kill succeeded (last at +${(lastRead?.at ?? killedAt) - killedAt} ms)`);
    assert.deepEqual(lastRead.keys, keptKeys, 'only the kept-alive keys are left');

    // The others expired under the new leader: never before a full TTL after the kill (the new
    // leader gives every lease its TTL afresh), and within TTL + election timeout + a margin.
    for (const k of unkeptKeys) {
      const at = goneAt.get(k);
      assert.ok(at !== undefined, `${k} expired`);
      assert.ok(at >= killedAt + TTL * 1000, `${k} gone ${at - killedAt} ms after the kill: before a full TTL`);
      assert.ok(at <= electedAt + TTL * 1000 + ELECTION_MS + MARGIN_MS, `${k} gone ${at - electedAt} ms after the new leader was seen`);
    }
    const gone = [...goneAt.values()].map((t) => t - killedAt);
    process.stdout.write(`# unkept keys gone +${Math.min(...gone)}..+${Math.max(...gone)} ms after the kill\n`);
    // The two keys of a lease go together (one revoke, one revision).
    for (const id of unkept) {
      const [a, c] = keysOf.get(id) ?? [];
      assert.equal(goneAt.get(a), goneAt.get(c), `both keys of lease ${id} go at once`);
    }

    // Keep-alives went on through the survivors, answered by the new leader.
    for (const k of keepers) {
      assert.deepEqual(k.lost, [], `no kept-alive lease was reported gone (stream errors: ${errorsOf(k)})`);
      for (const id of k.ids) {
        const l = k.last.get(id);
        assert.ok(l !== undefined && l.at >= keptUntil - 2500, `lease ${id} renewed recently (last +${(l?.at ?? killedAt) - killedAt} ms after the kill; stream errors: ${errorsOf(k)})`);
        assert.equal(l.ttl, TTL);
      }
    }
    process.stdout.write(`# keep-alive stream errors: ${keepers.map(errorsOf).filter((e) => e !== '').join('; ') || 'none'}\n`);

    // What the leases are now, through each survivor.
    for (const ep of survivors) {
      for (const id of kept) {
        const t = await call(lease(ep), 'LeaseTimeToLive', { ID: id, keys: true });
        assert.ok(Number(t.TTL) > 0 && Number(t.TTL) <= TTL, `kept lease ${id} on ${ep}: TTL ${t.TTL}`);
        assert.equal(Number(t.grantedTTL), TTL);
        assert.deepEqual((t.keys as Buffer[]).map((x) => x.toString()).sort(), keysOf.get(id));
      }
      for (const id of unkept) assert.equal(Number((await call(lease(ep), 'LeaseTimeToLive', { ID: id })).TTL), -1, `expired lease ${id} on ${ep}`);
    }

    // Every member agrees: same keys, same leases, same HashKV at the same revision — the two
    // survivors, and the killed member once restarted and caught up.
    const rev = lastRead.revision;
    const hashes: { ep: string; hash: number; hashRev: number }[] = [];
    const agree = async (ep: string): Promise<void> => {
      const c = kv(ep);
      await until(
        `${ep} applying revision ${rev}`,
        async () => {
          try {
            const r = await call(c, 'Range', { key: b('lc/'), range_end: b('lc0'), keys_only: true, serializable: true }, 2000);
            return Number(r.header.revision) >= rev ? true : undefined;
          } catch {
            return undefined;
          }
        },
        15_000,
      );
      const got = await call(c, 'Range', { key: b('lc/'), range_end: b('lc0'), keys_only: true, serializable: true });
      assert.deepEqual(got.kvs.map((x: Msg) => x.key.toString()), keptKeys, `keys on ${ep}`);
      const leases = await call(lease(ep), 'LeaseLeases', {});
      assert.deepEqual((leases.leases as Msg[]).map((l) => String(l.ID)).sort(), [...kept].sort(), `leases on ${ep}`);
      const m = maintenanceClient(ep);
      try {
        const h = await call(m, 'HashKV', { revision: rev });
        hashes.push({ ep, hash: Number(h.hash), hashRev: Number(h.hash_revision) });
      } finally {
        m.close();
      }
    };
    for (const ep of survivors) await agree(ep);
    await cluster.start(li);
    await agree(eps[li]);
    assert.equal(hashes.length, 3);
    for (const h of hashes) assert.equal(h.hashRev, rev, `HashKV revision on ${h.ep}`);
    assert.equal(new Set(hashes.map((h) => h.hash)).size, 1, `HashKV at ${rev}: ${JSON.stringify(hashes)}`);
  });
});
