// etcd's JWT tokens (server/auth/jwt.go, options.go), signed and verified with `jose`:
//   --auth-token jwt,pub-key=<pem file>,priv-key=<pem file>,sign-method=<alg>[,ttl=<Go duration>]
// sign-method: RS256/384/512, PS256/384/512 (RSA keys), ES256/384/512 (EC P-256/P-384/P-521),
// EdDSA (Ed25519; etcd 3.6, 3.5 refuses it), HS256/384/512 (priv-key is the shared secret file).
// ttl defaults to 5m. Claims as etcd writes them: {"exp": unix seconds, "revision": auth
// revision, "username": name}, header {"alg", "typ": "JWT"}; so a token signed by one member
// (or by etcd with the same key) verifies on every other. With only pub-key a member verifies
// but cannot sign (Authenticate there fails: AuthErrors.verifyOnly).
// Nothing is held per token: enable/disable/invalidateUser do nothing (a token names the auth
// revision it was issued at, and every auth change moves the revision, so old tokens fail the
// permission checks with "revision of auth store is old").
//
// jose 6 is ESM only: it is loaded with a real dynamic import() of its resolved file (TypeScript
// would turn a plain import() into require() in our CommonJS build, which Node before 20.19
// refuses for ESM).
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type * as Jose from 'jose';
import type { AuthInfo } from './auth-store';
import { AuthConfigError, AuthConfigMessages as M, AuthErrors } from './errors';
import type { AssignContext, TokenProvider } from './token';

export const JWT_TTL_DEFAULT_MS = 5 * 60 * 1000;

type Family = 'rsa' | 'ec' | 'ed' | 'hmac';

const METHODS: Record<string, { family: Family; curve?: string }> = {
  RS256: { family: 'rsa' },
  RS384: { family: 'rsa' },
  RS512: { family: 'rsa' },
  PS256: { family: 'rsa' },
  PS384: { family: 'rsa' },
  PS512: { family: 'rsa' },
  ES256: { family: 'ec', curve: 'prime256v1' },
  ES384: { family: 'ec', curve: 'secp384r1' },
  ES512: { family: 'ec', curve: 'secp521r1' },
  EdDSA: { family: 'ed' },
  HS256: { family: 'hmac' },
  HS384: { family: 'hmac' },
  HS512: { family: 'hmac' },
};

const KNOWN_OPTIONS = new Set(['sign-method', 'pub-key', 'priv-key', 'ttl']);

export interface JwtOptions {
  signMethod: string;
  ttlMs: number;
  /** Absent for a verify-only member. */
  signKey?: KeyObject;
  verifyKey: KeyObject;
  /** Options etcd does not know (it warns and goes on). */
  unknownOptions: string[];
}

/**
 * etcd's jwtOptions.ParseWithDefaults + Key: the options of `--auth-token jwt,...` to keys.
 * Unreadable files, a bad ttl or an unknown sign-method are "auth: invalid auth options", as etcd
 * reports them; key problems carry golang-jwt's messages.
 */
export function parseJwtOptions(opts: Map<string, string>, readFile: (path: string) => Buffer = readFileSync): JwtOptions {
  const invalid = (): AuthConfigError => new AuthConfigError(M.invalidAuthOpts);
  const ttlText = opts.get('ttl') ?? '';
  const ttlMs = ttlText === '' ? JWT_TTL_DEFAULT_MS : parseGoDurationMs(ttlText);
  if (ttlMs === undefined) throw invalid();
  const read = (name: string): Buffer | undefined => {
    const file = opts.get(name) ?? '';
    if (file === '') return undefined;
    try {
      return readFile(file);
    } catch {
      throw invalid();
    }
  };
  const pub = read('pub-key');
  const priv = read('priv-key');
  const signMethod = opts.get('sign-method') ?? '';
  const method = Object.hasOwn(METHODS, signMethod) ? METHODS[signMethod] : undefined;
  if (method === undefined) throw invalid();
  const unknownOptions = [...opts.keys()].filter((k) => !KNOWN_OPTIONS.has(k));
  if (method.family === 'hmac') {
    if (priv === undefined || priv.length === 0) throw new AuthConfigError(M.missingKey);
    const secret = createSecretKey(priv);
    return { signMethod, ttlMs, signKey: secret, verifyKey: secret, unknownOptions };
  }
  const signKey = priv !== undefined && priv.length > 0 ? privateKey(priv, method.family, method.curve) : undefined;
  const publicKey = pub !== undefined && pub.length > 0 ? publicKeyOf(pub, method.family, method.curve) : undefined;
  if (signKey === undefined) {
    if (publicKey === undefined) throw new AuthConfigError(M.missingKey);
    return { signMethod, ttlMs, verifyKey: publicKey, unknownOptions };
  }
  const derived = createPublicKey(signKey);
  if (publicKey !== undefined && !spki(publicKey).equals(spki(derived))) throw new AuthConfigError(M.keyMismatch);
  return { signMethod, ttlMs, signKey, verifyKey: derived, unknownOptions };
}

export class JwtTokenProvider implements TokenProvider {
  readonly type = 'jwt';

  private constructor(
    readonly options: JwtOptions,
    /** jose, loading (an ES module: only import() loads it); settled before the first token. */
    private readonly jose: Promise<typeof Jose>,
    private readonly nowMs: () => number,
  ) {}

  /** The provider for `--auth-token jwt,<opts>`; AuthConfigError when they are bad. */
  static async create(opts: Map<string, string>, o: { readFile?: (path: string) => Buffer; nowMs?: () => number } = {}): Promise<JwtTokenProvider> {
    const p = JwtTokenProvider.createNow(opts, o);
    await p.jose;
    return p;
  }

  /**
   * The same, at once (the member builds its token provider in its constructor): the options
   * and keys are checked here, jose finishes loading in the background.
   */
  static createNow(opts: Map<string, string>, o: { readFile?: (path: string) => Buffer; nowMs?: () => number } = {}): JwtTokenProvider {
    const options = parseJwtOptions(opts, o.readFile);
    const jose = loadJose();
    // A failed load is the first token's error, not an unhandled rejection now.
    jose.catch(() => undefined);
    return new JwtTokenProvider(options, jose, o.nowMs ?? Date.now);
  }

  get verifyOnly(): boolean {
    return this.options.signKey === undefined;
  }

  genTokenPrefix(): string {
    return '';
  }

  async assign(info: AuthInfo, _at?: AssignContext): Promise<string> {
    const key = this.options.signKey;
    if (key === undefined) throw AuthErrors.verifyOnly();
    // Claims in Go's map order (sorted), exp in whole seconds as Go's Unix().
    const exp = Math.floor((this.nowMs() + this.options.ttlMs) / 1000);
    const jose = await this.jose;
    return new jose.SignJWT({ exp, revision: info.revision, username: info.username })
      .setProtectedHeader({ alg: this.options.signMethod, typ: 'JWT' })
      .sign(key);
  }

  /** The token's own user and revision (etcd ignores the store's revision for JWTs). */
  async info(token: string, _revision?: number): Promise<AuthInfo | undefined> {
    let payload: Jose.JWTPayload;
    try {
      const jose = await this.jose;
      ({ payload } = await jose.jwtVerify(token, this.options.verifyKey, {
        algorithms: [this.options.signMethod],
        currentDate: new Date(this.nowMs()),
      }));
    } catch {
      return undefined;
    }
    const { username, revision } = payload;
    if (typeof username !== 'string' || typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) return undefined;
    return { username, revision };
  }

  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  close(): void {}
}

let jose: Promise<typeof Jose> | undefined;

/** jose, imported as the ES module it is (see the header). */
export function loadJose(): Promise<typeof Jose> {
  const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<typeof Jose>;
  jose ??= importEsm(pathToFileURL(require.resolve('jose')).href);
  return jose;
}

function isPem(b: Buffer): boolean {
  return b.includes('-----BEGIN ');
}

const NOT_PRIVATE: Record<Exclude<Family, 'hmac'>, string> = { rsa: M.notRsaPrivate, ec: M.notEcPrivate, ed: M.notEdPrivate };
const NOT_PUBLIC: Record<Exclude<Family, 'hmac'>, string> = { rsa: M.notRsaPublic, ec: M.notEcPublic, ed: M.notEdPublic };

function privateKey(pem: Buffer, family: Exclude<Family, 'hmac'>, curve: string | undefined): KeyObject {
  if (!isPem(pem)) throw new AuthConfigError(M.keyMustBePem);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new AuthConfigError(NOT_PRIVATE[family]);
  }
  if (!fits(key, family, curve)) throw new AuthConfigError(NOT_PRIVATE[family]);
  return key;
}

function publicKeyOf(pem: Buffer, family: Exclude<Family, 'hmac'>, curve: string | undefined): KeyObject {
  if (!isPem(pem)) throw new AuthConfigError(M.keyMustBePem);
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new AuthConfigError(NOT_PUBLIC[family]);
  }
  if (!fits(key, family, curve)) throw new AuthConfigError(NOT_PUBLIC[family]);
  return key;
}

/**
 * The key suits the method. Stricter than etcd for EC: a curve that does not match the method
 * (ES256 with a P-384 key) is refused at start, where etcd fails each Authenticate instead.
 */
function fits(key: KeyObject, family: Exclude<Family, 'hmac'>, curve: string | undefined): boolean {
  switch (family) {
    case 'rsa':
      return key.asymmetricKeyType === 'rsa';
    case 'ec':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === curve;
    case 'ed':
      return key.asymmetricKeyType === 'ed25519';
  }
}

function spki(k: KeyObject): Buffer {
  return k.export({ type: 'spki', format: 'der' });
}

const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration ("5m", "1h30m", "1.5s", "0"), in ms; undefined when Go refuses it. */
export function parseGoDurationMs(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let totalMs = 0;
  const part = /^([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = part.exec(s);
    if (m === null || (m[1] === '' && (m[2] ?? '') === '')) return undefined;
    totalMs += Number(`${m[1] === '' ? '0' : m[1]}.${m[2] === undefined || m[2] === '' ? '0' : m[2]}`) * DURATION_UNIT_MS[m[3]];
    s = s.slice(m[0].length);
  }
  return sign * totalMs;
}
