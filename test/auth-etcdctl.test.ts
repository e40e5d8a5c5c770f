// Acceptance test (issue 14, 1): Debian's etcdctl 3.4 `user`, `role` and `auth` commands end to
// end on one member: root, roles with key, --prefix and --from-key permissions, auth enable (as
// etcdctl does it: it adds the root role itself when root lacks it), `--user` with right and wrong
// passwords, reads and writes allowed and denied, `user passwd`, `role revoke-permission`,
// `user get`, `role get`, deletes, `auth disable`. Every stdout and stderr text, and the exit
// code, was taken from real etcd 3.4.23 given the same commands (TEST_AGAINST_ETCD=1 runs them
// against it again).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from './helpers/server-process';
import { etcdctl, etcdctlMissing } from './helpers/etcdctl';

interface Step {
  args: string[];
  /** stdout, exactly. */
  out?: string;
  /** Exit code (0 unless said). */
  code?: number;
  /**
   * A call the server refused: the gRPC status etcdctl's retry interceptor logs ("Code desc"),
   * then, unless `warnOnly`, etcdctl's `Error: <desc>` line.
   */
  refused?: string;
  warnOnly?: boolean;
  stdin?: string;
}

/** etcdctl's stderr, its timestamp and client target taken out. */
function normalized(stderr: string): string {
  return stderr.replace(/"ts":"[^"]*"/g, '"ts":T').replace(/"target":"[^"]*"/g, '"target":X');
}

function expectedStderr(s: Step): string {
  if (s.refused === undefined) return '';
  const [code, ...desc] = s.refused.split(' ');
  const message = desc.join(' ');
  const warn = `{"level":"warn","ts":T,"caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":X,"attempt":0,"error":"rpc error: code = ${code} desc = ${message}"}\n`;
  return s.warnOnly === true ? warn : `${warn}Error: ${message}\n`;
}

const DENIED = 'PermissionDenied etcdserver: permission denied';
const EMPTY = 'InvalidArgument etcdserver: user name is empty';
const AUTH_FAILED = 'InvalidArgument etcdserver: authentication failed, invalid user ID or password';
const U1 = ['--user', 'u1:p1'];
const ROOT = ['--user', 'root:pw'];
const ROLE_R1_FULL = 'Role r1\nKV Read:\n\tfoo\n\t[pre/, pre0) (prefix pre/)\nKV Write:\n\t[a, c)\n\tfoo\n\t[zz, <open ended>\n';

const STEPS: Step[] = [
  { args: ['user', 'add', 'root:pw', '--interactive=false'], out: 'User root created\n' },
  { args: ['user', 'add', 'root:pw', '--interactive=false'], code: 1, refused: 'FailedPrecondition etcdserver: user name already exists' },
  { args: ['role', 'add', 'r1'], out: 'Role r1 created\n' },
  { args: ['role', 'add', 'r1'], code: 1, refused: 'FailedPrecondition etcdserver: role name already exists' },
  { args: ['role', 'grant-permission', 'r1', 'readwrite', 'foo'], out: 'Role r1 updated\n' },
  { args: ['role', 'grant-permission', 'r1', 'read', '--prefix', 'pre/'], out: 'Role r1 updated\n' },
  { args: ['role', 'grant-permission', 'r1', 'write', '--from-key', 'zz'], out: 'Role r1 updated\n' },
  { args: ['role', 'grant-permission', 'r1', 'write', 'a', 'c'], out: 'Role r1 updated\n' },
  { args: ['role', 'grant-permission', 'nope', 'read', 'x'], code: 1, refused: 'FailedPrecondition etcdserver: role name not found' },
  { args: ['user', 'add', 'u1:p1', '--interactive=false'], out: 'User u1 created\n' },
  { args: ['user', 'grant-role', 'u1', 'r1'], out: 'Role r1 is granted to user u1\n' },
  { args: ['user', 'grant-role', 'u1', 'nope'], code: 1, refused: 'FailedPrecondition etcdserver: role name not found' },
  // root has no root role yet: etcdctl adds the role, grants it and enables again.
  { args: ['auth', 'enable'], out: 'Authentication Enabled\n', refused: 'FailedPrecondition etcdserver: root user does not have root role', warnOnly: true },
  { args: ['auth', 'enable'], code: 1, refused: EMPTY },
  { args: ['get', 'foo'], code: 1, refused: EMPTY },
  { args: ['put', 'foo', 'x'], code: 1, refused: EMPTY },
  { args: [...U1, 'put', 'foo', 'bar'], out: 'OK\n' },
  { args: [...U1, 'get', 'foo'], out: 'foo\nbar\n' },
  { args: [...U1, 'put', 'pre/a', 'x'], code: 1, refused: DENIED },
  { args: [...U1, 'get', 'pre/', '--prefix'], out: '' },
  { args: [...U1, 'put', 'zzz', 'v'], out: 'OK\n' },
  { args: [...U1, 'get', 'zzz'], code: 1, refused: DENIED },
  { args: [...U1, 'get', 'foo', '--prefix'], code: 1, refused: DENIED },
  { args: [...U1, 'del', 'foo'], out: '1\n' },
  { args: ['--user', 'u1:bad', 'get', 'foo'], code: 2, refused: AUTH_FAILED },
  { args: ['--user', 'nobody:x', 'get', 'foo'], code: 2, refused: AUTH_FAILED },
  { args: [...U1, 'user', 'get', 'u1'], out: 'User: u1\nRoles: r1\n' },
  { args: [...U1, 'user', 'get', 'root'], code: 1, refused: DENIED },
  { args: [...U1, 'role', 'get', 'r1'], out: ROLE_R1_FULL },
  { args: [...U1, 'role', 'get', 'root'], code: 1, refused: DENIED },
  { args: [...U1, 'user', 'list'], code: 1, refused: DENIED },
  { args: [...U1, 'auth', 'disable'], code: 1, refused: DENIED },
  { args: [...ROOT, 'user', 'get', 'u1'], out: 'User: u1\nRoles: r1\n' },
  { args: [...ROOT, 'user', 'get', 'u1', '--detail'], out: `User: u1\n\n${ROLE_R1_FULL}` },
  { args: [...ROOT, 'role', 'get', 'r1'], out: ROLE_R1_FULL },
  { args: [...ROOT, 'user', 'list'], out: 'root\nu1\n' },
  { args: [...ROOT, 'role', 'list'], out: 'r1\nroot\n' },
  { args: [...ROOT, 'user', 'passwd', 'u1', '--interactive=false'], stdin: 'p2\n', out: 'Password updated\n' },
  { args: [...U1, 'get', 'foo'], code: 2, refused: AUTH_FAILED },
  { args: ['--user', 'u1:p2', 'get', 'foo'], out: '' },
  { args: [...ROOT, 'role', 'revoke-permission', 'r1', 'foo'], out: 'Permission of key foo is revoked from role r1\n' },
  { args: [...ROOT, 'role', 'revoke-permission', 'r1', 'foo'], code: 1, refused: 'FailedPrecondition etcdserver: permission is not granted to the role' },
  { args: [...ROOT, 'role', 'revoke-permission', 'r1', 'pre/', '--prefix'], out: 'Permission of range [pre/, pre0) is revoked from role r1\n' },
  { args: [...ROOT, 'role', 'revoke-permission', 'r1', 'zz', '--from-key'], out: 'Permission of range [zz, <open ended> is revoked from role r1\n' },
  { args: [...ROOT, 'role', 'revoke-permission', 'r1', 'a', 'c'], out: 'Permission of range [a, c) is revoked from role r1\n' },
  { args: ['--user', 'u1:p2', 'get', 'foo'], code: 1, refused: DENIED },
  { args: [...ROOT, 'role', 'get', 'r1'], out: 'Role r1\nKV Read:\nKV Write:\n' },
  { args: [...ROOT, 'user', 'revoke-role', 'u1', 'r1'], out: 'Role r1 is revoked from user u1\n' },
  { args: [...ROOT, 'user', 'revoke-role', 'u1', 'r1'], code: 1, refused: 'FailedPrecondition etcdserver: role is not granted to the user' },
  { args: [...ROOT, 'user', 'delete', 'root'], code: 1, refused: 'InvalidArgument etcdserver: invalid auth management' },
  { args: [...ROOT, 'role', 'delete', 'root'], code: 1, refused: 'InvalidArgument etcdserver: invalid auth management' },
  { args: [...ROOT, 'role', 'delete', 'r1'], out: 'Role r1 deleted\n' },
  { args: [...ROOT, 'user', 'delete', 'u1'], out: 'User u1 deleted\n' },
  { args: [...ROOT, 'user', 'delete', 'u1'], code: 1, refused: 'FailedPrecondition etcdserver: user name not found' },
  { args: [...ROOT, 'auth', 'disable'], out: 'Authentication Disabled\n' },
  { args: ['get', 'foo'], out: '' },
  { args: ['put', 'foo', 'free'], out: 'OK\n' },
  // With auth disabled etcdctl's Authenticate is refused, which it logs and ignores.
  { args: [...ROOT, 'get', 'foo'], out: 'foo\nfree\n', refused: 'FailedPrecondition etcdserver: authentication is not enabled', warnOnly: true },
];

describe('etcdctl user / role / auth', { skip: etcdctlMissing }, () => {
  let server: ServerProcess | undefined;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.cleanup();
  });

  test(`${STEPS.length} commands print what etcd 3.4 prints`, async () => {
    const ep = server?.endpoint ?? '';
    for (const [i, s] of STEPS.entries()) {
      const r = await etcdctl(ep, s.args, s.stdin);
      const what = `step ${i}: etcdctl ${s.args.join(' ')}`;
      assert.equal(r.code, s.code ?? 0, `${what}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.equal(r.stdout, s.out ?? '', what);
      assert.equal(normalized(r.stderr), expectedStderr(s), what);
    }
  });
});
