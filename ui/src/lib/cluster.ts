// The cluster as the dashboard polls it: the member list from the member serving the page, then
// each member's own Status, /health and /metrics at its client URL (the CORS headers every
// member sends let the page call them all). A member that does not answer is shown as such.
import { num, type AlarmJson, type MemberJson, type StatusJson } from './etcd-types.js';
import { call, errorText } from './gateway.js';
import { scrape, type Scrape } from './metrics.js';

export interface MemberView {
  id: string;
  name: string;
  clientUrl: string | undefined;
  peerUrls: string[];
  learner: boolean;
  /** Undefined when the member did not answer. */
  status: StatusJson | undefined;
  error: string | undefined;
  healthy: boolean | undefined;
  scrape: Scrape | undefined;
}

export interface ClusterView {
  members: MemberView[];
  /** The leader's ID as the answering members report it ("" when none agree on one). */
  leader: string;
  alarms: AlarmJson[];
  alarmsError: string | undefined;
  atMs: number;
}

/** A client URL the page can call: the member serving the page is called at its own origin. */
function reachable(urls: string[] | undefined): string | undefined {
  return urls?.find((u) => u.startsWith('http://') || u.startsWith('https://'));
}

export async function pollCluster(): Promise<ClusterView> {
  const list = await call<{ members?: MemberJson[] }>('cluster/member/list', {});
  const members = await Promise.all((list.members ?? []).map(memberView));
  let alarms: AlarmJson[] = [];
  let alarmsError: string | undefined;
  try {
    alarms = (await call<{ alarms?: AlarmJson[] }>('maintenance/alarm', { action: 'GET' })).alarms ?? [];
  } catch (err) {
    alarmsError = errorText(err);
  }
  // The leader most answering members name (a member that lost touch may still name the old one).
  const votes = new Map<string, number>();
  for (const m of members) {
    const l = m.status?.leader;
    if (l !== undefined && l !== '0') votes.set(l, (votes.get(l) ?? 0) + 1);
  }
  let leader = '';
  let best = 0;
  for (const [id, n] of votes) if (n > best) [leader, best] = [id, n];
  return { members, leader, alarms, alarmsError, atMs: Date.now() };
}

async function memberView(m: MemberJson): Promise<MemberView> {
  const clientUrl = reachable(m.clientURLs);
  const view: MemberView = { id: m.ID ?? '', name: m.name ?? '', clientUrl, peerUrls: m.peerURLs ?? [], learner: m.isLearner === true, status: undefined, error: undefined, healthy: undefined, scrape: undefined };
  if (clientUrl === undefined) {
    view.error = m.name === undefined || m.name === '' ? 'not started yet' : 'no client URL';
    return view;
  }
  const base = clientUrl.replace(/\/$/, '');
  const timeoutMs = 2500;
  const [status, health, metrics] = await Promise.allSettled([
    call<StatusJson>('maintenance/status', {}, { base, timeoutMs }),
    fetch(`${base}/health`, { signal: AbortSignal.timeout(timeoutMs) }).then((r) => r.json() as Promise<{ health?: string }>),
    scrape(base, AbortSignal.timeout(timeoutMs)),
  ]);
  if (status.status === 'fulfilled') view.status = status.value;
  else view.error = errorText(status.reason);
  view.healthy = health.status === 'fulfilled' ? health.value.health === 'true' : false;
  if (metrics.status === 'fulfilled') view.scrape = metrics.value;
  return view;
}

export type Role = 'leader' | 'follower' | 'learner' | 'unreachable';

export function roleOf(m: MemberView): Role {
  if (m.status === undefined) return 'unreachable';
  if (m.learner || m.status.isLearner === true) return 'learner';
  return m.status.leader === m.id ? 'leader' : 'follower';
}

export const dbSize = (s: StatusJson | undefined): number => num(s?.dbSize);
