// The run's security, two switches that combine:
//   --tls   a CA made for the run signs a certificate for the members' client listeners, one for
//           their peer listeners and dials (both usages: a member serves and dials with it) and
//           one for the harness's clients. Member certificates carry SAN IP 127.0.0.1 and DNS
//           localhost: clients check the name they dial, and a peer listener checks the dialing
//           member's SAN against the address it comes from — 127.0.0.1 through the TCP fault
//           proxies, which pass TLS through untouched. Members get https client and peer URLs,
//           --client-cert-auth and --peer-client-cert-auth. The client certificate's CN names no
//           user: with --client-cert-auth and auth on, a call without a token runs as its CN's
//           user, and only tokens should give the harness any rights.
//   --auth  once the cluster is up, before the workload, auth is set up over the API as an
//           operator does it (etcdctl role add, user add, user grant-role, role grant-permission,
//           auth enable): user root with role root, role rw with READWRITE on every key (key
//           "\0", range_end "\0": from the lowest key on), user app with role rw. Then a call
//           without a token must be refused and one as app served, else the run has an anomaly.
import { mkdirSync, readFileSync } from 'node:fs';
import { issue, makeCa, writeCa, writeLeaf } from '../helpers/certs';
import { Access, type UserPassword, type Who } from './access';
import type { ClusterControl } from './cluster-control';
import { sleep } from './prng';
import { now, type Recorder } from './recorder';
import { errorText, unary } from './rpc';

export const USERS: Record<Who, UserPassword> = {
  root: { user: 'root', password: 'robustness-root' },
  app: { user: 'app', password: 'robustness-app' },
};
const APP_ROLE = 'rw';
/** authpb.Permission.Type READWRITE. */
const READWRITE = 2;
const SETUP_STEP_MS = 30_000;

export interface RunSecurity {
  access: Access;
  /** The members' TLS flags (none without --tls). */
  memberArgs: string[];
}

/** Certificates under dir (with --tls) and the harness's access; auth is enabled later (enableAuth). */
export async function prepareSecurity(o: { tls: boolean; auth: boolean; dir: string; rec: Recorder }): Promise<RunSecurity> {
  const count = (what: string): void => o.rec.countError(what);
  if (!o.tls) return { access: new Access({ auth: o.auth ? USERS : undefined, count }), memberArgs: [] };
  mkdirSync(o.dir, { recursive: true });
  const ca = await makeCa('etcd-ts robustness CA');
  const caFile = writeCa(o.dir, 'ca.pem', ca);
  const names = { ips: ['127.0.0.1'], dns: ['localhost'] };
  const server = writeLeaf(o.dir, 'server', await issue(ca, { cn: 'etcd-ts member', ...names, usage: 'server' }));
  const peer = writeLeaf(o.dir, 'peer', await issue(ca, { cn: 'etcd-ts peer', ...names, usage: 'both' }));
  const client = writeLeaf(o.dir, 'client', await issue(ca, { cn: 'robustness-client', usage: 'client' }));
  const tls = { ca: readFileSync(caFile), cert: readFileSync(client.cert), key: readFileSync(client.key), files: { ca: caFile, cert: client.cert, key: client.key } };
  return {
    access: new Access({ tls, auth: o.auth ? USERS : undefined, count }),
    memberArgs: [
      '--cert-file', server.cert, '--key-file', server.key, '--trusted-ca-file', caFile, '--client-cert-auth',
      '--peer-cert-file', peer.cert, '--peer-key-file', peer.key, '--peer-trusted-ca-file', caFile, '--peer-client-cert-auth',
    ],
  };
}

/**
 * Sets up users and roles and enables auth through the Auth service, then turns tokens on in the
 * harness's access and checks that auth holds. Returns what was done.
 */
export async function enableAuth(cluster: ClusterControl, rec: Recorder): Promise<string> {
  const access = cluster.access;
  const t0 = now();
  const step = async (method: string, req: Record<string, unknown>): Promise<void> => {
    const started = now();
    for (;;) {
      const ep = (await cluster.leader())?.endpoint ?? cluster.liveEndpoints()[0];
      try {
        await access.once('Auth', ep, method, req, 10_000);
        return;
      } catch (e) {
        // An answer may be lost: the retry then finds the user or role there already.
        if (/already exists/.test(errorText(e))) return;
        if (now() - started > SETUP_STEP_MS) throw new Error(`auth setup: ${method} failed for ${SETUP_STEP_MS} ms: ${errorText(e)}`);
        rec.note(`auth setup: ${method} via ${ep}: ${errorText(e)}; again`);
        await sleep(500);
      }
    }
  };
  await step('RoleAdd', { name: 'root' });
  await step('UserAdd', { name: USERS.root.user, password: USERS.root.password });
  await step('UserGrantRole', { user: USERS.root.user, role: 'root' });
  await step('RoleAdd', { name: APP_ROLE });
  await step('RoleGrantPermission', { name: APP_ROLE, perm: { permType: READWRITE, key: Buffer.from([0]), range_end: Buffer.from([0]) } });
  await step('UserAdd', { name: USERS.app.user, password: USERS.app.password });
  await step('UserGrantRole', { user: USERS.app.user, role: APP_ROLE });
  await step('AuthEnable', {});
  access.enableAuth();

  // Auth holds: on every member a read without a token is refused, one as app is served.
  const refusals: string[] = [];
  for (const m of cluster.members) {
    const c = access.client('KV', m.endpoint);
    try {
      await unary(c, 'Range', { key: Buffer.from('k/'), range_end: Buffer.from('k0'), count_only: true }, 5000);
      rec.anomaly(`auth enabled, but ${m.name} served a read without a token`);
    } catch (e) {
      if (!/user name is empty|permission denied/.test(errorText(e))) rec.anomaly(`auth enabled: ${m.name} answered a read without a token with ${errorText(e)} (expected 'user name is empty' or 'permission denied')`);
      else refusals.push(`${m.name}: ${errorText(e)}`);
    } finally {
      c.close();
    }
    await retryUntil(`a read as ${USERS.app.user} on ${m.name}`, async () => {
      const kv = access.client('KV', m.endpoint);
      try {
        await access.as('app', m.endpoint, (md) => unary(kv, 'Range', { key: Buffer.from([0]), range_end: Buffer.from([0]), count_only: true }, 5000, md));
      } finally {
        kv.close();
      }
    });
  }
  return `auth enabled in ${Math.round(now() - t0)} ms (users ${USERS.root.user}, ${USERS.app.user} with role ${APP_ROLE}: READWRITE on every key); without a token: ${refusals.join('; ')}`;
}

async function retryUntil(what: string, fn: () => Promise<void>): Promise<void> {
  const t0 = now();
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (now() - t0 > SETUP_STEP_MS) throw new Error(`auth setup: ${what} failed for ${SETUP_STEP_MS} ms: ${errorText(e)}`);
      await sleep(500);
    }
  }
}
