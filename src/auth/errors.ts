// The errors of etcd's auth, as clients see them. Two kinds:
// - AuthErrors: client-facing EtcdErrors (gRPC code + exact message). Those etcd maps in its
//   toGRPCErrorMap (server/etcdserver/api/v3rpc/util.go) carry the rpctypes text
//   (api/v3rpc/rpctypes/error.go, "etcdserver: ..."); the few it does not map reach the client as
//   codes.Unknown with the Go error's own text ("auth: ...", "bcrypt: ..."), so those are kept as is.
// - AuthConfigError: a bad --auth-token / key file at start-up (server/auth/store.go, options.go,
//   jwt.go): never sent to a client, the member refuses to start with the message.
// Verified against etcd v3.5.33.
import { Code, e, EtcdError } from '../errors';

export const AuthErrors = {
  rootUserNotExist: e(Code.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  rootRoleNotExist: e(Code.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  userAlreadyExist: e(Code.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userEmpty: e(Code.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  userNotFound: e(Code.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleAlreadyExist: e(Code.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: e(Code.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleEmpty: e(Code.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  authFailed: e(Code.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  permissionNotGiven: e(Code.INVALID_ARGUMENT, 'etcdserver: permission not given'),
  permissionDenied: e(Code.PERMISSION_DENIED, 'etcdserver: permission denied'),
  roleNotGranted: e(Code.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  permissionNotGranted: e(Code.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  authNotEnabled: e(Code.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  invalidAuthToken: e(Code.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  invalidAuthMgmt: e(Code.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  authOldRevision: e(Code.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),
  /** Not in etcd's gRPC map: CheckPassword of a user added with --no-password, or a bad hashedPassword. */
  noPasswordUser: e(Code.UNKNOWN, 'auth: authentication failed, password was given for no password user'),
  /** Not in etcd's gRPC map: Authenticate with a JWT provider that has only a public key. */
  verifyOnly: e(Code.UNKNOWN, 'auth: token signing attempted with verify-only key'),
  /** golang.org/x/crypto/bcrypt (v0.5.0 on) refuses to hash more than 72 bytes; etcd passes it on. */
  passwordTooLong: e(Code.UNKNOWN, 'bcrypt: password length exceeds 72 bytes'),
};

/**
 * The auth store's own texts (etcd's server/auth errors.New), which etcd 3.5.17 sends as they are
 * (codes.Unknown) where it forgets to translate them: its authMaintenanceServer's admin check
 * (Defragment, Snapshot, Hash, HashKV). Only the errors that check can raise.
 */
const UNTRANSLATED: Record<string, string> = {
  'etcdserver: user name is empty': 'auth: user name is empty',
  'etcdserver: user name not found': 'auth: user not found',
  'etcdserver: permission denied': 'auth: permission denied',
  'etcdserver: invalid auth token': 'auth: invalid auth token',
};

/** An auth EtcdError as etcd's untranslated error (Unknown, "auth: ..."); anything else as it is. */
export function untranslated(err: unknown): unknown {
  const text = err instanceof EtcdError ? UNTRANSLATED[err.message] : undefined;
  return text === undefined ? err : new EtcdError(Code.UNKNOWN, text);
}

/** A bad --auth-token option or key file: the member does not start (etcd's NewTokenProvider). */
export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError';
}

export const AuthConfigMessages = {
  invalidAuthOpts: 'auth: invalid auth options',
  invalidAuthMethod: 'auth: invalid auth signature method',
  missingKey: 'auth: missing key data',
  keyMismatch: "auth: public and private keys don't match",
  // github.com/golang-jwt/jwt/v4's PEM parsing errors, which etcd passes on.
  keyMustBePem: 'invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key',
  notRsaPrivate: 'key is not a valid RSA private key',
  notRsaPublic: 'key is not a valid RSA public key',
  notEcPrivate: 'key is not a valid ECDSA private key',
  notEcPublic: 'key is not a valid ECDSA public key',
  notEdPrivate: 'key is not a valid Ed25519 private key',
  notEdPublic: 'key is not a valid Ed25519 public key',
} as const;
