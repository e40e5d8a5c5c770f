// Membership changes a robustness run makes, through the Cluster service as an operator would:
//   replace — MemberRemove a member, MemberAdd a new one (new name, peer URL, proxy, data dir; as a
//             voter, or as a learner promoted once it caught up) and start it with
//             --initial-cluster-state existing;
//   re-add  — MemberRemove a member, wipe its data dir, MemberAdd the same peer URL again (etcd
//             gives it a new member ID: the ID hashes the URLs with the time of the request) and
//             start it under the same name, behind the same proxy, with --initial-cluster-state
//             existing: what an operator does to rebuild a member whose disk was lost.
// Every request is retried until the member list shows it took effect (an answer may be lost).
import { rmSync } from 'node:fs';
import type { ClusterControl, Member } from './cluster-control';
import { sleep } from './prng';
import { now } from './recorder';
import { errorText } from './rpc';

/** Removes victim and waits until its process is gone (it stops by itself, as etcd's; else SIGKILL). */
async function remove(c: ClusterControl, victim: Member, pickEndpoint: () => string, steps: string[]): Promise<void> {
  const victimInc = victim.current;
  if (victimInc !== undefined) victimInc.expectedExit = true;
  await retry(`remove ${victim.name}`, 30_000, async () => {
    const ep = pickEndpoint();
    try {
      await c.access.once('Cluster', ep, 'MemberRemove', { ID: victim.id }, 5000);
      return true;
    } catch (e) {
      if (/member not found/.test(errorText(e))) return true;
      const list = await c.memberList();
      if (list !== undefined && !list.some((x) => String(x.ID) === victim.id)) return true;
      steps.push(`remove via ${ep}: ${errorText(e)}`);
      return undefined;
    }
  });
  const t0 = now();
  while (victim.current !== undefined && now() - t0 < 5000) await sleep(100);
  steps.push(victim.current === undefined ? `${victim.name} exited by itself` : `${victim.name} still running 5 s after removal: killed`);
  await c.kill(victim);
}

/** MemberAdd of peerUrl; returns the new member's ID. */
async function add(c: ClusterControl, name: string, peerUrl: string, asLearner: boolean, pickEndpoint: () => string, steps: string[]): Promise<string> {
  return retry(`add ${name}`, 30_000, async () => {
    const ep = pickEndpoint();
    try {
      const r = await c.access.once('Cluster', ep, 'MemberAdd', { peerURLs: [peerUrl], isLearner: asLearner }, 5000);
      return String(r.member.ID);
    } catch (e) {
      if (/Peer URLs already exists/.test(errorText(e))) {
        const list = await c.memberList();
        const x = list?.find((y) => (y.peerURLs as string[]).includes(peerUrl));
        if (x !== undefined) return String(x.ID);
      }
      steps.push(`add via ${ep}: ${errorText(e)}`);
      return undefined;
    }
  });
}

async function promote(c: ClusterControl, m: Member, pickEndpoint: () => string): Promise<number> {
  let tries = 0;
  await retry(`promote ${m.name}`, 60_000, async () => {
    tries++;
    try {
      await c.access.once('Cluster', pickEndpoint(), 'MemberPromote', { ID: m.id }, 5000);
      return true;
    } catch (e) {
      if (/can only promote a learner member$/.test(errorText(e))) return true;
      await sleep(300);
      return undefined;
    }
  });
  return tries;
}

/** Removes victim, adds and starts a new member in its place. Returns what happened. */
export async function replaceMember(c: ClusterControl, victim: Member, asLearner: boolean, pickEndpoint: () => string): Promise<string> {
  const steps: string[] = [];
  await remove(c, victim, pickEndpoint, steps);
  c.members = c.members.filter((m) => m !== victim);
  c.retired.push(victim);
  await victim.proxy.close();

  const m = await c.createMember();
  m.id = await add(c, m.name, m.peerUrl, asLearner, pickEndpoint, steps);
  m.clusterState = 'existing';
  m.initialCluster = [...c.members, m].map((x) => `${x.name}=${x.peerUrl}`).join(',');
  c.members.push(m);
  await c.startMember(m);
  steps.push(`${m.name} (${m.id}) added${asLearner ? ' as a learner' : ''} and started`);
  if (asLearner) steps.push(`promoted after ${await promote(c, m, pickEndpoint)} tries`);
  return steps.join('; ');
}

/**
 * Removes victim, wipes its data and adds it again under the same name and peer URL (a new
 * member ID). The member stays in c.members throughout (down while it is out of the cluster), so
 * that its incarnations stay together in the report. Returns what happened.
 */
export async function readdMember(c: ClusterControl, victim: Member, pickEndpoint: () => string): Promise<string> {
  const steps: string[] = [];
  const oldId = victim.id;
  await remove(c, victim, pickEndpoint, steps);
  rmSync(victim.dataDir, { recursive: true, force: true });
  // Faults keyed by the old ID mean nothing now; the proxy keeps serving the same URL.
  victim.proxy.heal();
  victim.id = await add(c, victim.name, victim.peerUrl, false, pickEndpoint, steps);
  victim.clusterState = 'existing';
  victim.initialCluster = c.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
  await c.startMember(victim);
  steps.push(`data wiped; re-added as ${victim.id} (was ${oldId}) with the same peer URL and started`);
  return steps.join('; ');
}

async function retry<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const t0 = now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (now() - t0 > timeoutMs) throw new Error(`${what}: gave up after ${timeoutMs} ms`);
    await sleep(200);
  }
}
