// What a check step returns when it finds something wrong: a sentence for the human and the
// smallest piece of history that shows it. Steps return a Finding (or undefined: nothing found)
// instead of throwing, so each checker can stop at the first one and wrap it into its Verdict.
import type { Verdict } from './history';

export interface Finding {
  message: string;
  evidence: unknown;
}

export function violation(checker: Verdict['checker'], f: Finding): Verdict {
  return { checker, result: 'violation', message: f.message, evidence: f.evidence };
}
