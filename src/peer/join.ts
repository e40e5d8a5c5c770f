// A member started with --initial-cluster-state existing asks the cluster's members for the
// membership record (GET /members on their peer URLs): the cluster ID and the member IDs come
// from there, not from the flags, as in etcd. It dials with the member's peer TLS, as every
// other peer connection (dialer.ts).
import type { PeerDialer } from './dialer';

const TIMEOUT_MS = 3000;

function get(dialer: PeerDialer, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = dialer.connect(url);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer from ${url}`));
    }, TIMEOUT_MS);
    session.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const req = session.request({ ':method': 'GET', ':path': '/members' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve(body);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    });
  });
}

/** The first membership record any of these peer URLs returns. */
export async function fetchMembership(peerUrls: string[], dialer: PeerDialer): Promise<string> {
  const errors: string[] = [];
  for (const url of peerUrls) {
    try {
      const body = await get(dialer, url);
      JSON.parse(body);
      return body;
    } catch (err) {
      errors.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`cannot get the cluster's members from any peer (${errors.join('; ')})`);
}
