// Majority arithmetic over the voters. Learners never count: callers pass the voter list only.
import type { MemberId } from './types';

/** Whether `members` holds a majority of `voters`. */
export function hasMajority(voters: readonly MemberId[], members: ReadonlySet<MemberId>): boolean {
  let n = 0;
  for (const v of voters) if (members.has(v)) n++;
  return n > voters.length / 2;
}

/** The highest index a majority of voters holds, given each voter's match index. */
export function quorumIndex(voters: readonly MemberId[], matchOf: (id: MemberId) => number): number {
  const n = voters.length;
  // No voters: nothing can commit.
  if (n === 0) return 0;
  // Sorted descending by insertion: a handful of voters, and a leader runs this on every ack.
  const matches = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const m = matchOf(voters[i]);
    let j = i;
    for (; j > 0 && matches[j - 1] < m; j--) matches[j] = matches[j - 1];
    matches[j] = m;
  }
  return matches[n >> 1];
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** An election's outcome so far: `votes` maps a voter to whether it granted. */
export function voteResult(voters: readonly MemberId[], votes: ReadonlyMap<MemberId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const vote = votes.get(v);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  if (granted > voters.length / 2) return 'won';
  // A majority said no: waiting for the rest cannot win, so the candidate may step down early.
  if (rejected > voters.length / 2) return 'lost';
  return 'pending';
}
