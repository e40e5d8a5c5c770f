// What a streaming method hands back to its transport adapter: a way to end it with an error
// (the pipeline ends require-leader streams when the member has had no leader for too long).
export interface StreamControl {
  fail(err: unknown): void;
}
