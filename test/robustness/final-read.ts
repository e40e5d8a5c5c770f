// The end of a run: leases left to run out (or revoked as recorded calls), then the final state
// every checker compares against — a linearizable Range of every key, every member at that
// revision with the same HashKV, and the revision unchanged on a second read.
import type { ClusterControl } from './cluster-control';
import type { History } from './history';
import { sleep } from './prng';
import { now, type Recorder } from './recorder';
import { errorText, str, type Msg } from './rpc';

export async function leasesLeft(cluster: ClusterControl): Promise<string[]> {
  for (const ep of cluster.liveEndpoints()) {
    try {
      const r = await cluster.access.once('Lease', ep, 'LeaseLeases', {}, 3000);
      return ((r.leases as Msg[]) ?? []).map((l) => String(l.ID));
    } catch {
      // next
    }
  }
  return [];
}

export async function waitLeasesGone(cluster: ClusterControl, timeoutMs: number): Promise<void> {
  const t0 = now();
  while (now() - t0 < timeoutMs && (await leasesLeft(cluster)).length > 0) await sleep(500);
}

/**
 * The final state: a linearizable Range of every key; then every member must reach that revision
 * and give the same HashKV at it; and a second read must find the revision unchanged (nothing
 * moved after the final read). Retried a few times while revisions still move.
 */
export async function finalRead(cluster: ClusterControl, rec: Recorder, catchUpMs: number): Promise<{ state: History['finalState']; revision: number; convergence: string }> {
  let lastWhy = '';
  for (let attempt = 0; attempt < 6; attempt++) {
    const ep = cluster.liveEndpoints()[attempt % cluster.liveEndpoints().length];
    let r: Msg;
    try {
      r = await cluster.access.once('KV', ep, 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]) }, 5000);
    } catch (e) {
      lastWhy = `final read on ${ep}: ${errorText(e)}`;
      await sleep(1000);
      continue;
    }
    const revision = Number(r.header.revision);
    const state: History['finalState'] = {};
    for (const kv of (r.kvs as Msg[]) ?? []) state[str(kv.key)] = [str(kv.value), Number(kv.mod_revision)];
    const hashes: string[] = [];
    let behind = '';
    for (const m of cluster.members) {
      const t0 = now();
      let rev = 0;
      while (now() - t0 < catchUpMs) {
        try {
          rev = Number((await cluster.access.once('KV', m.endpoint, 'Range', { key: Buffer.from('health'), serializable: true }, 2000)).header.revision);
          if (rev >= revision) break;
        } catch {
          // retry
        }
        await sleep(200);
      }
      if (rev < revision) {
        behind += `${m.name} stuck at revision ${rev} < ${revision}; `;
        continue;
      }
      try {
        const h = await cluster.access.once('Maintenance', m.endpoint, 'HashKV', { revision }, 10_000);
        hashes.push(`${m.name}: hash ${h.hash} at ${h.hash_revision} (compacted ${h.compact_revision})`);
      } catch (e) {
        behind += `${m.name} HashKV: ${errorText(e)}; `;
      }
    }
    const again = await cluster.access.once('KV', ep, 'Range', { key: Buffer.from('health') }, 5000).catch(() => undefined);
    const moved = again !== undefined && Number(again.header.revision) !== revision;
    if (moved) {
      lastWhy = `revision moved from ${revision} to ${again?.header.revision} after the final read`;
      rec.note(lastWhy);
      await sleep(2000);
      continue;
    }
    const distinct = new Set(hashes.map((x) => x.replace(/^m\d+: /, '')));
    if (behind !== '' || distinct.size !== 1) {
      rec.anomaly(`members do not converge at revision ${revision}: ${behind}${hashes.join('; ')}`);
      return { state, revision, convergence: `NOT CONVERGED at ${revision}: ${behind}${hashes.join('; ')}` };
    }
    return { state, revision, convergence: `all ${cluster.members.length} members agree at revision ${revision}: ${hashes.join('; ')}` };
  }
  rec.anomaly(`no stable final state: ${lastWhy}`);
  return { state: {}, revision: 0, convergence: `no stable final state: ${lastWhy}` };
}
