// Runs Debian's etcdctl (v3 API) against an endpoint. Tests skip, with the reason printed, only
// when etcdctl is not installed; CI installs it.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';

export const ETCDCTL = '/usr/bin/etcdctl';
export const etcdctlMissing: string | false = spawnSync(ETCDCTL, ['version']).status === 0 ? false : 'etcdctl is not installed (apt-get install etcd-client)';
if (etcdctlMissing) process.stdout.write(`# skipping etcdctl tests: ${etcdctlMissing}\n`);

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function etcdctl(endpoint: string, args: string[], input?: string): Promise<Result> {
  return new Promise((res) => {
    const child = execFile(
      ETCDCTL,
      [`--endpoints=${endpoint}`, '--dial-timeout=5s', '--command-timeout=10s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A failed run, for assertion messages. */
export function show(args: string[], r: Result): string {
  return `etcdctl ${args.join(' ')} exited ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${r.stderr}`;
}

/** Runs etcdctl and returns its stdout; fails the test unless it exits 0. */
export async function etcdctlOk(endpoint: string, args: string[], input?: string): Promise<string> {
  const r = await etcdctl(endpoint, args, input);
  assert.equal(r.code, 0, show(args, r));
  return r.stdout;
}

/** etcdctl's TLS flags for a client TLS setting (see server-process.ts ClientTls). */
export function etcdctlTlsArgs(tls: { ca?: string; cert?: string; key?: string; insecure?: boolean }): string[] {
  const args: string[] = [];
  if (tls.ca !== undefined) args.push(`--cacert=${tls.ca}`);
  if (tls.cert !== undefined) args.push(`--cert=${tls.cert}`);
  if (tls.key !== undefined) args.push(`--key=${tls.key}`);
  // etcdctl 3.4 dials in plain unless given a certificate, a CA, or --insecure-transport=false.
  if (tls.insecure === true) args.push('--insecure-transport=false', '--insecure-skip-tls-verify');
  return args;
}
