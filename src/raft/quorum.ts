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
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  // No voters: nothing can commit.
  return matches[Math.floor(voters.length / 2)] ?? 0;
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
