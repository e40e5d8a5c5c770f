// The worker thread behind PasswordHasher (password.ts): bcrypt costs ~100 ms of CPU at cost 10,
// which would stall every request on the event loop. One job at a time, answered by id.
import { parentPort } from 'node:worker_threads';
import { bcryptCompare, bcryptHash, type HashJob, type HashReply } from './password';

parentPort?.on('message', (job: HashJob) => {
  let reply: HashReply;
  try {
    reply = job.op === 'hash' ? { id: job.id, value: bcryptHash(job.password, job.cost) } : { id: job.id, value: bcryptCompare(job.password, job.hash) };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
