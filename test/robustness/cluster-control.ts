// The cluster under test: members on loopback, each with its own data dir, peer traffic through a
// fault-injecting PeerProxy (test/helpers/peer-proxy.ts) in front of every member. Built from the
// same pieces as test/helpers/cluster.ts (startServer, PeerProxy, etcd's member IDs), plus what a
// robustness run needs on top: SIGSTOP / SIGCONT, graceful restarts, one-way blackholes, members
// removed and new ones joined (with their own proxies), leader lookups, unexpected exits noticed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberId } from '../../src/server/ids';
import { PeerProxy } from '../helpers/peer-proxy';
import { freePorts, startServer, type ServerProcess } from '../helpers/server-process';
import { now, type Recorder } from './recorder';
import { errorText, once, type Msg } from './rpc';
import { sleep } from './prng';

const TOKEN = 'robustness';

export interface Incarnation {
  proc: ServerProcess;
  startedMs: number;
  /** Set before the harness kills or stops it on purpose (or removes its member). */
  expectedExit: boolean;
  exit?: string;
}

export interface Member {
  name: string;
  /** Member ID (decimal). */
  id: string;
  clientPort: number;
  peerPort: number;
  /** The advertised peer URL: the proxy's. */
  peerUrl: string;
  endpoint: string;
  dataDir: string;
  proxy: PeerProxy;
  initialCluster: string;
  clusterState: 'new' | 'existing';
  incarnations: Incarnation[];
  /** The running process (undefined while down). */
  current?: Incarnation;
  stopped: boolean;
}

export class ClusterControl {
  /** The members of the cluster now (removed ones move to `retired`). */
  members: Member[] = [];
  readonly retired: Member[] = [];
  private nextName = 1;
  /** What waitHealthy saw before the cluster was healthy (distinct states, with ms offsets). */
  lastUnhealthy: { atMs: number; text: string }[] = [];

  private constructor(
    readonly root: string,
    private readonly extraArgs: string[],
    private readonly rec: Recorder,
  ) {}

  static async start(size: number, extraArgs: string[], rec: Recorder): Promise<ClusterControl> {
    const c = new ClusterControl(mkdtempSync(join(tmpdir(), 'etcd-ts-robustness-')), extraArgs, rec);
    try {
      const created: Member[] = [];
      for (let i = 0; i < size; i++) created.push(await c.newMember());
      const initialCluster = created.map((m) => `${m.name}=${m.peerUrl}`).join(',');
      for (const m of created) m.initialCluster = initialCluster;
      c.members = created;
      await Promise.all(created.map((m) => c.startMember(m)));
    } catch (e) {
      await c.cleanup(true);
      throw e;
    }
    return c;
  }

  private async newMember(): Promise<Member> {
    const [clientPort, peerPort, proxyPort] = await freePorts(3);
    const proxy = new PeerProxy(`http://127.0.0.1:${peerPort}`);
    await proxy.start(proxyPort);
    const peerUrl = `http://127.0.0.1:${proxyPort}`;
    const name = `m${this.nextName++}`;
    return {
      name,
      id: memberId([peerUrl], TOKEN).toString(),
      clientPort,
      peerPort,
      peerUrl,
      endpoint: `127.0.0.1:${clientPort}`,
      dataDir: join(this.root, name),
      proxy,
      initialCluster: '',
      clusterState: 'new',
      incarnations: [],
      stopped: false,
    };
  }

  endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Endpoints of members that run and are not stopped. */
  liveEndpoints(): string[] {
    return this.members.filter((m) => m.current !== undefined && !m.stopped).map((m) => m.endpoint);
  }

  byId(id: string): Member | undefined {
    return this.members.find((m) => m.id === id);
  }

  /** Starts (or restarts) a member with its data dir; retries a start that does not get ready. */
  async startMember(m: Member): Promise<void> {
    if (m.current !== undefined) throw new Error(`${m.name} is running`);
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const proc = await startServer({
          dataDir: m.dataDir,
          port: m.clientPort,
          args: [
            '--name', m.name,
            '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
            '--initial-advertise-peer-urls', m.peerUrl,
            '--initial-cluster', m.initialCluster,
            '--initial-cluster-state', m.clusterState,
            '--initial-cluster-token', TOKEN,
            ...this.extraArgs,
          ],
        });
        const inc: Incarnation = { proc, startedMs: now(), expectedExit: false };
        m.incarnations.push(inc);
        m.current = inc;
        m.stopped = false;
        proc.proc.once('exit', (code, signal) => {
          inc.exit = signal !== null ? signal : `code ${code}`;
          if (m.current === inc) m.current = undefined;
          if (!inc.expectedExit) {
            const tail = proc.stderr().split('\n').filter((l) => l.trim() !== '').slice(-5).join(' | ');
            this.rec.anomaly(`${m.name} exited unexpectedly (${inc.exit}); stderr tail: ${tail.slice(0, 2000)}`);
          }
        });
        return;
      } catch (e) {
        lastErr = e;
        this.rec.anomaly(`${m.name} did not start (attempt ${attempt + 1}): ${errorText(e).slice(0, 2000)}`);
        await sleep(1000);
      }
    }
    throw new Error(`${m.name} could not be started: ${errorText(lastErr)}`);
  }

  /** SIGKILL and wait for the exit. */
  async kill(m: Member): Promise<void> {
    const inc = m.current;
    if (inc === undefined) return;
    inc.expectedExit = true;
    await inc.proc.kill();
    m.current = undefined;
    m.stopped = false;
  }

  /** SIGTERM (a graceful shutdown), SIGKILL if it has not exited within timeoutMs. */
  async terminate(m: Member, timeoutMs = 5000): Promise<boolean> {
    const inc = m.current;
    if (inc === undefined) return true;
    inc.expectedExit = true;
    const exited = new Promise<void>((r) => {
      if (inc.proc.proc.exitCode !== null || inc.proc.proc.signalCode !== null) r();
      else inc.proc.proc.once('exit', () => r());
    });
    inc.proc.proc.kill('SIGTERM');
    const graceful = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!graceful) await inc.proc.kill();
    m.current = undefined;
    return graceful;
  }

  stop(m: Member): void {
    if (m.current === undefined) return;
    m.current.proc.proc.kill('SIGSTOP');
    m.stopped = true;
  }

  cont(m: Member): void {
    if (m.current === undefined) return;
    m.current.proc.proc.kill('SIGCONT');
    m.stopped = false;
  }

  /** Cuts every link between m and the others, both ways. */
  isolate(m: Member): void {
    const others = this.members.filter((x) => x !== m);
    m.proxy.block(others.map((x) => x.id));
    for (const o of others) o.proxy.block([m.id]);
  }

  /** One way only: 'out' drops what m sends to the others, 'in' what they send to m. */
  blackhole(m: Member, direction: 'in' | 'out'): void {
    const others = this.members.filter((x) => x !== m);
    if (direction === 'in') m.proxy.block(others.map((x) => x.id));
    else for (const o of others) o.proxy.block([m.id]);
  }

  heal(): void {
    for (const m of this.members) m.proxy.heal();
  }

  async status(m: Member, timeoutMs = 2000): Promise<Msg | undefined> {
    try {
      return await once('Maintenance', m.endpoint, 'Status', {}, timeoutMs);
    } catch {
      return undefined;
    }
  }

  /** The member that leads, if the live members agree on one. */
  async leader(): Promise<Member | undefined> {
    const live = this.members.filter((m) => m.current !== undefined && !m.stopped);
    const st = await Promise.all(live.map((m) => this.status(m)));
    const leaders = new Set(st.filter((s) => s !== undefined).map((s) => String(s?.leader ?? '0')));
    if (leaders.size !== 1 || leaders.has('0')) return undefined;
    return this.byId([...leaders][0]);
  }

  /**
   * Waits until every member runs, all agree on a leader, and a linearizable read succeeds on each
   * (the cluster has recovered). Returns the ms it took; throws on timeout.
   */
  async waitHealthy(timeoutMs: number): Promise<number> {
    const t0 = now();
    let why = '';
    this.lastUnhealthy = [];
    const seen = (w: string): void => {
      why = w;
      const last = this.lastUnhealthy[this.lastUnhealthy.length - 1];
      const text = w.replace(/\d+(\.\d+)?s|\d+ ms/g, 'N');
      if (last === undefined || last.text !== text) this.lastUnhealthy.push({ atMs: Math.round(now() - t0), text });
    };
    while (now() - t0 < timeoutMs) {
      const down = this.members.filter((m) => m.current === undefined || m.stopped);
      if (down.length > 0) {
        seen(`${down.map((m) => m.name).join(',')} down`);
      } else {
        const st = await Promise.all(this.members.map((m) => this.status(m)));
        const leaders = new Set(st.map((s) => String(s?.leader ?? '0')));
        if (leaders.size === 1 && !leaders.has('0') && this.byId([...leaders][0]) !== undefined) {
          const reads = await Promise.all(
            this.members.map(async (m) => {
              try {
                await once('KV', m.endpoint, 'Range', { key: Buffer.from('health') }, 2000);
                return undefined;
              } catch (e) {
                return `${m.name}: ${errorText(e)}`;
              }
            }),
          );
          const bad = reads.filter((r) => r !== undefined);
          if (bad.length === 0) return now() - t0;
          seen(`linearizable reads fail: ${bad.join('; ')}`);
        } else {
          seen(`leaders seen: ${this.members.map((m, i) => `${m.name}->${st[i] === undefined ? 'no answer' : (this.byId(String(st[i]?.leader))?.name ?? String(st[i]?.leader))}`).join(', ')}`);
        }
      }
      await sleep(200);
    }
    throw new Error(`cluster not healthy after ${timeoutMs} ms: ${why}`);
  }

  /** Cluster.MemberList through any live member. */
  async memberList(): Promise<Msg[] | undefined> {
    for (const ep of this.liveEndpoints()) {
      try {
        return (await once('Cluster', ep, 'MemberList', {}, 3000)).members as Msg[];
      } catch {
        // next
      }
    }
    return undefined;
  }

  /**
   * Removes member `victim` (Cluster.MemberRemove), then adds a new member (MemberAdd, as a
   * learner promoted once it caught up, or as a voter) and starts it with
   * --initial-cluster-state existing. Returns a description.
   */
  async replace(victim: Member, asLearner: boolean, pickEndpoint: () => string): Promise<string> {
    const steps: string[] = [];
    // Remove: retried until the member list no longer holds it (an answer may be lost).
    const victimInc = victim.current;
    if (victimInc !== undefined) victimInc.expectedExit = true;
    await this.retry(`remove ${victim.name}`, 30_000, async () => {
      const ep = pickEndpoint();
      try {
        await once('Cluster', ep, 'MemberRemove', { ID: victim.id }, 5000);
        return true;
      } catch (e) {
        if (/member not found/.test(errorText(e))) return true;
        const list = await this.memberList();
        if (list !== undefined && !list.some((x) => String(x.ID) === victim.id)) return true;
        steps.push(`remove via ${ep}: ${errorText(e)}`);
        return undefined;
      }
    });
    this.members = this.members.filter((m) => m !== victim);
    this.retired.push(victim);
    // A removed member stops by itself (as etcd's); else SIGKILL.
    const t0 = now();
    while (victim.current !== undefined && now() - t0 < 5000) await sleep(100);
    steps.push(victim.current === undefined ? `${victim.name} exited by itself` : `${victim.name} still running 5 s after removal: killed`);
    await this.kill(victim);
    await victim.proxy.close();

    const m = await this.newMember();
    const added = await this.retry(`add ${m.name}`, 30_000, async () => {
      const ep = pickEndpoint();
      try {
        const r = await once('Cluster', ep, 'MemberAdd', { peerURLs: [m.peerUrl], isLearner: asLearner }, 5000);
        return String(r.member.ID);
      } catch (e) {
        if (/Peer URLs already exists/.test(errorText(e))) {
          const list = await this.memberList();
          const x = list?.find((y) => (y.peerURLs as string[]).includes(m.peerUrl));
          if (x !== undefined) return String(x.ID);
        }
        steps.push(`add via ${ep}: ${errorText(e)}`);
        return undefined;
      }
    });
    m.id = added;
    m.clusterState = 'existing';
    m.initialCluster = [...this.members, m].map((x) => `${x.name}=${x.peerUrl}`).join(',');
    this.members.push(m);
    await this.startMember(m);
    steps.push(`${m.name} (${m.id}) added${asLearner ? ' as a learner' : ''} and started`);
    if (asLearner) {
      let tries = 0;
      await this.retry(`promote ${m.name}`, 60_000, async () => {
        tries++;
        try {
          await once('Cluster', pickEndpoint(), 'MemberPromote', { ID: m.id }, 5000);
          return true;
        } catch (e) {
          if (/can only promote a learner member$/.test(errorText(e))) return true;
          await sleep(300);
          return undefined;
        }
      });
      steps.push(`promoted after ${tries} tries`);
    }
    return steps.join('; ');
  }

  private async retry<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
    const t0 = now();
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (now() - t0 > timeoutMs) throw new Error(`${what}: gave up after ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** Every incarnation of every member (current and removed), for stderr collection. */
  allMembers(): Member[] {
    return [...this.members, ...this.retired];
  }

  async cleanup(removeData: boolean): Promise<void> {
    for (const m of this.allMembers()) {
      for (const inc of m.incarnations) {
        inc.expectedExit = true;
        try {
          inc.proc.proc.kill('SIGCONT');
        } catch {
          // gone
        }
        await inc.proc.kill();
      }
      m.current = undefined;
    }
    for (const m of this.allMembers()) await m.proxy.close();
    if (removeData) rmSync(this.root, { recursive: true, force: true });
  }
}
