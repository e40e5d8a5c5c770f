// The cluster under test: members on loopback, each with its own data dir, peer traffic through a
// TCP-level fault proxy (test/helpers/tcp-fault-proxy.ts) in front of every member, which cuts,
// blackholes or delays chosen links as a network does (it tells the dialing member by its pid:
// member-pids.ts). Built from the same pieces as test/helpers/cluster.ts (the proxy, etcd's member
// IDs; processes started by startServer), plus what a robustness run needs on top:
// SIGSTOP / SIGCONT, graceful restarts, link faults of any set of members, leader lookups, health
// waits over all members or some, unexpected exits noticed. Membership changes are in
// member-changes.ts. With --tls every URL is https and the members get the run's certificates
// (security.ts); every call the harness makes goes through `access` (access.ts: credentials and,
// with --auth, tokens).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberId } from '../../src/server/ids';
import { TcpFaultProxy, type LinkFault } from '../helpers/tcp-fault-proxy';
import { freePorts, startServer, type ServerProcess } from '../helpers/server-process';
import type { Access } from './access';
import { MemberPids } from './member-pids';
import { now, type Recorder } from './recorder';
import { errorText, type Msg } from './rpc';
import type { RunSecurity } from './security';
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
  /** In front of the member's peer listener: faults on the links other members dialed to it. */
  proxy: TcpFaultProxy;
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
  /** Running member processes, for the proxies to tell senders apart. */
  readonly pids = new MemberPids((name) => this.members.find((m) => m.name === name)?.id);
  /** How every call of the harness reaches the members (credentials, tokens). */
  readonly access: Access;
  /** Flags every member gets: the run's TLS flags, then extraArgs (--member-arg last, so they win). */
  private readonly memberArgs: string[];

  private constructor(
    readonly root: string,
    extraArgs: string[],
    private readonly rec: Recorder,
    security: RunSecurity,
  ) {
    this.access = security.access;
    this.memberArgs = [...security.memberArgs, ...extraArgs];
  }

  static async start(size: number, extraArgs: string[], rec: Recorder, security: RunSecurity): Promise<ClusterControl> {
    const c = new ClusterControl(mkdtempSync(join(tmpdir(), 'etcd-ts-robustness-')), extraArgs, rec, security);
    try {
      const created: Member[] = [];
      for (let i = 0; i < size; i++) created.push(await c.createMember());
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

  /** A new member (ports, proxy, name, data dir), neither started nor in `members`. */
  async createMember(): Promise<Member> {
    const [clientPort, peerPort, proxyPort] = await freePorts(3);
    const proxy = new TcpFaultProxy(peerPort, this.pids.senders);
    await proxy.start(proxyPort);
    const peerUrl = `${this.access.scheme}://127.0.0.1:${proxyPort}`;
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
        const proc = await this.pids.whileStarting(() => startServer({
          dataDir: m.dataDir,
          port: m.clientPort,
          scheme: this.access.scheme,
          clientTls: this.access.tls?.files,
          args: [
            '--name', m.name,
            '--listen-peer-urls', `${this.access.scheme}://127.0.0.1:${m.peerPort}`,
            '--initial-advertise-peer-urls', m.peerUrl,
            '--initial-cluster', m.initialCluster,
            '--initial-cluster-state', m.clusterState,
            '--initial-cluster-token', TOKEN,
            ...this.memberArgs,
          ],
        }));
        this.pids.register(proc.proc.pid, m.id);
        const inc: Incarnation = { proc, startedMs: now(), expectedExit: false };
        m.incarnations.push(inc);
        m.current = inc;
        m.stopped = false;
        proc.proc.once('exit', (code, signal) => {
          inc.exit = signal !== null ? signal : `code ${code}`;
          this.pids.unregister(proc.proc.pid);
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

  /**
   * Puts `fault` on every peer link that touches a member of `side`, both directions (each member
   * dials every peer: the link a->b is the connection a dialed to b's proxy).
   */
  linkFault(side: Member[], fault: LinkFault): void {
    for (const x of this.members) {
      const from = side.includes(x) ? this.members.filter((y) => y !== x) : side.filter((y) => y !== x);
      if (from.length > 0) x.proxy.set(from.map((y) => y.id), fault);
    }
  }

  /** Cuts every link between m and the others, both ways (connections reset, new ones refused). */
  isolate(m: Member): void {
    this.linkFault([m], { kind: 'reset' });
  }

  /**
   * One way only, as a TCP blackhole ('in': what the others send to m vanishes, 'out': what m
   * sends). Raft messages go one way per connection (the sender dials), so blackholing the
   * connections of one direction drops that direction's messages and nothing of the other's.
   */
  blackholeOneWay(m: Member, direction: 'in' | 'out'): void {
    const others = this.members.filter((x) => x !== m);
    if (direction === 'in') m.proxy.blackhole(others.map((x) => x.id));
    else for (const o of others) o.proxy.blackhole([m.id]);
  }

  /** Lifts every link fault (also on a member out of the cluster for a moment, being re-added). */
  heal(): void {
    for (const m of this.allMembers()) m.proxy.heal();
  }

  /** The member role as the live members see it now: 'leader', 'follower' or 'member' (no leader known). */
  async roleOf(m: Member): Promise<string> {
    const leader = await this.leader();
    return leader === undefined ? 'member' : leader === m ? 'leader' : 'follower';
  }

  async status(m: Member, timeoutMs = 2000): Promise<Msg | undefined> {
    try {
      return await this.access.once('Maintenance', m.endpoint, 'Status', {}, timeoutMs);
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
  async waitHealthy(timeoutMs: number, only?: Member[]): Promise<number> {
    const members = only ?? this.members;
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
      const down = members.filter((m) => m.current === undefined || m.stopped);
      if (down.length > 0) {
        seen(`${down.map((m) => m.name).join(',')} down`);
      } else {
        const st = await Promise.all(members.map((m) => this.status(m)));
        const leaders = new Set(st.map((s) => String(s?.leader ?? '0')));
        if (leaders.size === 1 && !leaders.has('0') && this.byId([...leaders][0]) !== undefined) {
          const reads = await Promise.all(
            members.map(async (m) => {
              try {
                await this.access.once('KV', m.endpoint, 'Range', { key: Buffer.from('health') }, 2000);
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
          seen(`leaders seen: ${members.map((m, i) => `${m.name}->${st[i] === undefined ? 'no answer' : (this.byId(String(st[i]?.leader))?.name ?? String(st[i]?.leader))}`).join(', ')}`);
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
        return (await this.access.once('Cluster', ep, 'MemberList', {}, 3000)).members as Msg[];
      } catch {
        // next
      }
    }
    return undefined;
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
