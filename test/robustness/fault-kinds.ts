// The fault kinds of a robustness run, what each does, and the names `--faults` accepts: a kind,
// or a group of kinds (each round of a group picks one of its kinds at random). The table is a
// Record over FaultKind, so a kind added to history.ts without a description does not compile.
// Targets: "follower" and "leader" are looked up when the fault starts; "quorum" is 2 of 3 members
// chosen at random (with or without the leader); a member's peer links are both directions of
// every link it has (as etcd's functional tester blackholes or delays a member's peer port).
import type { FaultKind } from './history';

export type { FaultKind };

export const FAULT_INFO: Readonly<Record<FaultKind, string>> = {
  kill: 'SIGKILL one member (the leader or a follower), restart it with its data after 0.5-4 s',
  stop: 'SIGSTOP one member for 1.5-5 s, then SIGCONT',
  'sigterm-quorum': 'SIGTERM a quorum (2 of 3) at once, restart them after 1-3 s',
  'sigterm-all': 'SIGTERM every member at once, restart them all after 1-3 s',
  partition: 'cut every peer link of one member (connections reset, new ones refused) for 2-6 s',
  'blackhole-one-way': "TCP blackhole of one member's inbound or outbound peer traffic (one way) for 2-5 s",
  'blackhole-follower': "two-way TCP blackhole of a follower's peer links (bytes vanish, connections stay open) for 5-10 s",
  'blackhole-leader': "two-way TCP blackhole of the leader's peer links for 5-10 s",
  'blackhole-quorum': "two-way TCP blackhole of a quorum's peer links (with 3 members: every link) for 5-10 s",
  'blackhole-all': 'two-way TCP blackhole of every peer link for 5-10 s',
  'delay-follower': "every chunk on a follower's peer links delayed 500 ms ± 200 ms or 200 ms ± 100 ms, for 5-10 s",
  'delay-leader': "every chunk on the leader's peer links delayed (as delay-follower) for 5-10 s",
  'delay-quorum': "every chunk on a quorum's peer links delayed (as delay-follower) for 5-10 s",
  'delay-all': 'every chunk on every peer link delayed (as delay-follower) for 5-10 s',
  'transfer-leader': 'Maintenance.MoveLeader to a random follower',
  'rolling-restart': 'restart every member (SIGTERM or SIGKILL), one after another, each back before the next',
  'partition-rolling-restart': 'two faults at once: one member partitioned while every member is restarted one after another',
  'replace-member': 'remove a member, add a new one (new name, URL and data; as a voter or as a learner then promoted)',
  'readd-member': 'remove a member and add it again with its data wiped: same name and peer URL, a new member ID (MemberAdd as etcd does it)',
  'snapshot-catch-up': 'SIGKILL a follower, write 4x the log retention (the others compact their logs several times), restart it: it must catch up from a snapshot',
  fuzz: 'bad-input fuzzing of every client endpoint for 2-5 s',
};

export const FAULT_KINDS: readonly FaultKind[] = Object.keys(FAULT_INFO) as FaultKind[];

/** Names `--faults` takes besides the kinds. */
export const FAULT_GROUPS: Readonly<Record<string, readonly FaultKind[]>> = {
  'blackhole-one': ['blackhole-follower', 'blackhole-leader'],
  blackhole: ['blackhole-one-way', 'blackhole-follower', 'blackhole-leader', 'blackhole-quorum', 'blackhole-all'],
  'delay-one': ['delay-follower', 'delay-leader'],
  delay: ['delay-follower', 'delay-leader', 'delay-quorum', 'delay-all'],
  network: ['partition', 'blackhole-one-way', 'blackhole-follower', 'blackhole-leader', 'blackhole-quorum', 'blackhole-all', 'delay-follower', 'delay-leader', 'delay-quorum', 'delay-all'],
  process: ['kill', 'stop', 'sigterm-quorum', 'sigterm-all', 'rolling-restart', 'snapshot-catch-up'],
  membership: ['replace-member', 'readd-member'],
  compound: ['partition-rolling-restart'],
};

/** One entry of a run's fault choice: a kind, or a group whose kinds are chosen at random. */
export type FaultChoice = readonly FaultKind[];

const isKind = (s: string): s is FaultKind => Object.prototype.hasOwnProperty.call(FAULT_INFO, s);

/** `k1,group2,...` -> the choices (throws on an unknown name). */
export function parseFaultList(text: string): FaultChoice[] {
  const out: FaultChoice[] = [];
  for (const name of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (isKind(name)) out.push([name]);
    else if (Object.prototype.hasOwnProperty.call(FAULT_GROUPS, name)) out.push(FAULT_GROUPS[name]);
    else throw new Error(`unknown fault kind ${name} (kinds: ${FAULT_KINDS.join(', ')}; groups: ${Object.keys(FAULT_GROUPS).join(', ')})`);
  }
  if (out.length === 0) throw new Error('--faults: no kind given');
  return out;
}

/** Every kind a list of choices can inject (each once, in first-seen order). */
export function kindsOf(choices: readonly FaultChoice[]): FaultKind[] {
  return [...new Set(choices.flat())];
}

/** The --help text: kinds and groups. */
export function faultHelp(): string {
  const width = Math.max(...FAULT_KINDS.map((k) => k.length));
  const kinds = FAULT_KINDS.map((k) => `  ${k.padEnd(width)}  ${FAULT_INFO[k]}`).join('\n');
  const groups = Object.entries(FAULT_GROUPS)
    .map(([g, ks]) => `  ${g.padEnd(width)}  ${ks.join(', ')}`)
    .join('\n');
  return `fault kinds:\n${kinds}\ngroups (each round picks one of the kinds):\n${groups}\n`;
}
