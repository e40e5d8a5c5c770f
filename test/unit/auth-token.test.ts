// Tokens and the Authenticate brake: --auth-token parsing, simple tokens (TTL from last use on an
// injected clock, invalidation, bounds, waiting for the index), JWTs with keys made by node's
// crypto (RS256, PS256, ES256, EdDSA, HS256; tampering, algorithm confusion, expiry, verify-only,
// etcd's option errors), a token etcd 3.4.23 issued, and the per-user rate limit.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';
import { Code, EtcdError } from '../../src/errors';
import { AuthStore } from '../../src/auth/auth-store';
import { AuthConfigError } from '../../src/auth/errors';
import { bcryptHash } from '../../src/auth/password';
import { createTokenProvider, NopTokenProvider, parseAuthTokenOption, tokenFromMetadata } from '../../src/auth/token';
import { SimpleTokenProvider, tokenIndex } from '../../src/auth/simple-token';
import { JwtTokenProvider, loadJose, parseGoDurationMs } from '../../src/auth/jwt-token';
import { AuthRateLimiter } from '../../src/auth/rate-limit';

const keyDir = mkdtempSync(join(tmpdir(), 'auth-token-test-'));
after(() => rmSync(keyDir, { recursive: true, force: true }));

let files = 0;
function writeKey(content: string | Buffer): string {
  const p = join(keyDir, `k${files++}.pem`);
  writeFileSync(p, content);
  return p;
}

function pemPair(k: { privateKey: KeyObject; publicKey: KeyObject }, privType: 'pkcs1' | 'pkcs8' | 'sec1' = 'pkcs8'): { priv: string; pub: string } {
  return {
    priv: writeKey(k.privateKey.export({ type: privType, format: 'pem' })),
    pub: writeKey(k.publicKey.export({ type: 'spki', format: 'pem' })),
  };
}

const rsa = pemPair(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'pkcs1');
const rsa2 = pemPair(generateKeyPairSync('rsa', { modulusLength: 2048 }));
const p256 = pemPair(generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'sec1');
const p384 = pemPair(generateKeyPairSync('ec', { namedCurve: 'P-384' }));
const ed = pemPair(generateKeyPairSync('ed25519'));

function configError(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => err instanceof AuthConfigError && err.message === message);
}
async function configRejects(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof AuthConfigError && err.message === message);
}

const decodePart = (token: string, i: number): unknown => JSON.parse(Buffer.from(token.split('.')[i], 'base64url').toString());
const at = { index: 0, prefix: '' };

describe('--auth-token', () => {
  test('types and options as etcd decomposes them', () => {
    assert.deepEqual(parseAuthTokenOption('simple'), { type: 'simple' });
    assert.deepEqual(parseAuthTokenOption('simple,foo=bar'), { type: 'simple' });
    assert.deepEqual(parseAuthTokenOption(''), { type: 'none' });
    const jwt = parseAuthTokenOption('jwt,pub-key=a.pem,sign-method=RS256');
    assert.equal(jwt.type, 'jwt');
    assert.deepEqual(jwt.type === 'jwt' ? [...jwt.options] : [], [
      ['pub-key', 'a.pem'],
      ['sign-method', 'RS256'],
    ]);
    for (const bad of ['bogus', 'jwt,pub-key', 'jwt,a=1,a=2', 'jwt,a=b=c', 'simple,']) {
      configError(() => parseAuthTokenOption(bad), 'auth: invalid auth options');
    }
  });

  test('createTokenProvider picks the provider; "" gives etcd\'s nop provider', async () => {
    assert.equal((await createTokenProvider('simple')).type, 'simple');
    assert.equal((await createTokenProvider(`jwt,priv-key=${p256.priv},sign-method=ES256`)).type, 'jwt');
    const nop = await createTokenProvider('');
    assert.ok(nop instanceof NopTokenProvider);
    assert.equal(await nop.info('x', 1), undefined);
    await assert.rejects(nop.assign({ username: 'u', revision: 1 }, at), { message: 'etcdserver: authentication failed, invalid user ID or password' });
    await configRejects(createTokenProvider('plain'), 'auth: invalid auth options');
  });

  test('a token in metadata: "Bearer " is dropped', () => {
    assert.equal(tokenFromMetadata('Bearer abc.1'), 'abc.1');
    assert.equal(tokenFromMetadata('abc.1'), 'abc.1');
  });
});

describe('simple tokens', () => {
  function provider(o: { ttlMs?: number; maxTokens?: number; waitApplied?: (i: number) => Promise<void> | void } = {}): { p: SimpleTokenProvider; clock: { now: number } } {
    const clock = { now: 1000 };
    const p = new SimpleTokenProvider({ nowMs: () => clock.now, ...o });
    p.enable();
    return { p, clock };
  }

  test('format: 16 letters, a dot, the entry index; info gives the user at the current revision', async () => {
    const { p } = provider();
    const prefix = p.genTokenPrefix();
    assert.match(prefix, /^[a-zA-Z]{16}$/);
    assert.notEqual(p.genTokenPrefix(), prefix);
    const token = await p.assign({ username: 'u', revision: 3 }, { index: 42, prefix });
    assert.equal(token, `${prefix}.42`);
    assert.deepEqual(await p.info(token, 9), { username: 'u', revision: 9 });
    assert.equal(await p.info(`${prefix}.43`, 9), undefined);
  });

  test('malformed tokens are invalid (etcd: one dot, a decimal uint64 index)', async () => {
    const { p } = provider();
    await p.assign({ username: 'u', revision: 1 }, { index: 5, prefix: 'abc' });
    for (const bad of ['abc', 'abc.5.1', 'abc.-5', 'abc.+5', 'abc.5x', 'abc.', 'abc.18446744073709551616']) {
      assert.equal(await p.info(bad, 1), undefined, bad);
    }
    assert.equal(tokenIndex('x.18446744073709551615'), 18446744073709551615);
    assert.equal(tokenIndex('x.007'), 7);
  });

  test('the TTL runs from the last use; an unused token expires', async () => {
    const { p, clock } = provider({ ttlMs: 10_000 });
    const used = await p.assign({ username: 'a', revision: 1 }, { index: 1, prefix: 'used' });
    const idle = await p.assign({ username: 'b', revision: 1 }, { index: 2, prefix: 'idle' });
    clock.now += 6_000;
    assert.ok(await p.info(used, 1));
    clock.now += 4_000; // idle: exactly at its end, still valid (etcd drops it only after)
    assert.ok(await p.info(idle, 1));
    clock.now += 9_000; // 9 s after the idle token's renewal above; 13 s after `used`'s
    assert.equal(await p.info(used, 1), undefined);
    assert.ok(await p.info(idle, 1));
    clock.now += 10_001;
    assert.equal(await p.info(idle, 1), undefined);
    assert.equal(p.size, 0, 'expired tokens are dropped');
  });

  test('the default TTL is 300 s (also for 0 or less)', async () => {
    for (const ttlMs of [undefined, 0, -5]) {
      const { p, clock } = provider({ ttlMs });
      assert.equal(p.ttlMs, 300_000);
      const t = await p.assign({ username: 'a', revision: 1 }, { index: 1, prefix: 'x' });
      clock.now += 300_000;
      assert.ok(await p.info(t, 1));
      clock.now += 300_001;
      assert.equal(await p.info(t, 1), undefined);
    }
  });

  test('invalidateUser drops that user\'s tokens only; disable drops all; assigned while disabled: never valid', async () => {
    const { p } = provider();
    const a1 = await p.assign({ username: 'a', revision: 1 }, { index: 1, prefix: 'p' });
    const a2 = await p.assign({ username: 'a', revision: 1 }, { index: 2, prefix: 'p' });
    const b1 = await p.assign({ username: 'b', revision: 1 }, { index: 3, prefix: 'p' });
    p.invalidateUser('a');
    assert.equal(await p.info(a1, 1), undefined);
    assert.equal(await p.info(a2, 1), undefined);
    assert.ok(await p.info(b1, 1));
    p.disable();
    assert.equal(await p.info(b1, 1), undefined);
    const c = await p.assign({ username: 'c', revision: 1 }, { index: 4, prefix: 'p' });
    p.enable();
    assert.equal(await p.info(b1, 1), undefined);
    assert.equal(await p.info(c, 1), undefined);
  });

  test('bounded: past maxTokens the least recently used goes', async () => {
    const { p, clock } = provider({ maxTokens: 3 });
    const t = [];
    for (let i = 0; i < 3; i++) {
      t.push(await p.assign({ username: `u${i}`, revision: 1 }, { index: i, prefix: 'p' }));
      clock.now += 1;
    }
    assert.ok(await p.info(t[0], 1)); // t[0] is now the most recent
    t.push(await p.assign({ username: 'u3', revision: 1 }, { index: 3, prefix: 'p' }));
    assert.equal(p.size, 3);
    assert.equal(await p.info(t[1], 1), undefined);
    assert.ok(await p.info(t[0], 1));
    assert.ok(await p.info(t[3], 1));
  });

  test('a token for an index not applied yet waits for it; a failed wait makes it invalid', async () => {
    let applied = 0;
    const waiters: { index: number; resolve: () => void }[] = [];
    const { p } = provider({
      waitApplied: (index) => {
        if (index <= applied) return;
        if (index > 1000) return Promise.reject(new Error('deadline'));
        return new Promise<void>((resolve) => waiters.push({ index, resolve }));
      },
    });
    const pending = p.info('abc.7', 1);
    assert.equal(waiters.length, 1);
    // The entry at index 7 is applied: the token is registered, then the wait ends.
    await p.assign({ username: 'u', revision: 1 }, { index: 7, prefix: 'abc' });
    applied = 7;
    waiters[0].resolve();
    assert.deepEqual(await pending, { username: 'u', revision: 1 });
    assert.equal(await p.info('abc.5000', 1), undefined);
  });

  test('with the store: deleting a user, changing its password, disabling auth end its tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'auth-token-store-'));
    const backend = new Backend({ dir, mapSizeBytes: 64 * 1024 * 1024 });
    try {
      const p = new SimpleTokenProvider();
      const store = new AuthStore(backend, p);
      const apply = (fn: (s: AuthStore) => void): void => backend.transaction(() => fn(store));
      const hashed = Buffer.from(bcryptHash('pw', 4)).toString('base64');
      apply((s) => {
        for (const n of ['root', 'a', 'b']) s.userAdd({ name: n, hashedPassword: hashed });
        s.userGrantRole('root', 'root');
        s.authEnable();
      });
      let index = 100;
      const login = (name: string): Promise<string> => p.assign(store.authenticate(name), { index: index++, prefix: p.genTokenPrefix() });
      const ta = await login('a');
      const tb = await login('b');
      const troot = await login('root');
      assert.deepEqual(await p.info(ta, store.revision()), { username: 'a', revision: store.revision() });
      apply((s) => s.userDelete('a'));
      assert.equal(await p.info(ta, store.revision()), undefined);
      assert.ok(await p.info(tb, store.revision()));
      apply((s) => s.userChangePassword({ name: 'b', hashedPassword: hashed }));
      assert.equal(await p.info(tb, store.revision()), undefined);
      assert.ok(await p.info(troot, store.revision()));
      apply((s) => s.authDisable());
      assert.equal(await p.info(troot, store.revision()), undefined);
    } finally {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('JWT', () => {
  const clock = { now: Date.UTC(2030, 0, 1) };
  const create = (opt: string): Promise<JwtTokenProvider> => createTokenProvider(opt, { wallClockMs: () => clock.now }) as Promise<JwtTokenProvider>;

  test('RS256: etcd\'s header and claims; verified by the signer and by a verify-only member', async () => {
    const signer = await create(`jwt,pub-key=${rsa.pub},priv-key=${rsa.priv},sign-method=RS256,ttl=5m`);
    const token = await signer.assign({ username: 'alice', revision: 7 }, at);
    assert.deepEqual(decodePart(token, 0), { alg: 'RS256', typ: 'JWT' });
    assert.equal(Buffer.from(token.split('.')[1], 'base64url').toString(), `{"exp":${Math.floor(clock.now / 1000) + 300},"revision":7,"username":"alice"}`);
    assert.deepEqual(await signer.info(token), { username: 'alice', revision: 7 });
    const verifier = await create(`jwt,pub-key=${rsa.pub},sign-method=RS256`);
    assert.equal(verifier.verifyOnly, true);
    assert.deepEqual(await verifier.info(token), { username: 'alice', revision: 7 });
    await assert.rejects(verifier.assign({ username: 'alice', revision: 7 }, at), (err: unknown) => err instanceof EtcdError && err.code === Code.UNKNOWN && err.message === 'auth: token signing attempted with verify-only key');
    assert.equal(signer.genTokenPrefix(), '');
  });

  test('a tampered token is refused: payload, signature, header algorithm', async () => {
    const signer = await create(`jwt,priv-key=${rsa.priv},sign-method=RS256`);
    const token = await signer.assign({ username: 'alice', revision: 7 }, at);
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ exp: Math.floor(clock.now / 1000) + 300, revision: 7, username: 'root' })).toString('base64url');
    assert.equal(await signer.info(`${h}.${forged}.${s}`), undefined);
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    assert.equal(await signer.info(`${token.split('.').slice(0, 2).join('.')}.${flipped}`), undefined);
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    assert.equal(await signer.info(`${none}.${token.split('.')[1]}.`), undefined);
    // HS256 signed with the RSA public key as secret (algorithm confusion): refused.
    const confused = await JwtTokenProvider.create(new Map([['priv-key', rsa.pub], ['sign-method', 'HS256']]), { nowMs: () => clock.now });
    assert.equal(await signer.info(await confused.assign({ username: 'root', revision: 7 })), undefined);
    // Signed by another RSA key.
    const other = await create(`jwt,priv-key=${rsa2.priv},sign-method=RS256`);
    assert.equal(await signer.info(await other.assign({ username: 'alice', revision: 7 })), undefined);
    assert.equal(await signer.info('not a jwt'), undefined);
  });

  test('expired after ttl (exp in whole seconds)', async () => {
    const signer = await create(`jwt,priv-key=${p256.priv},sign-method=ES256,ttl=1m`);
    const token = await signer.assign({ username: 'alice', revision: 1 }, at);
    const issued = clock.now;
    try {
      clock.now = issued + 59_000;
      assert.ok(await signer.info(token));
      clock.now = issued + 61_000;
      assert.equal(await signer.info(token), undefined);
    } finally {
      clock.now = issued;
    }
  });

  test('ES256 (P-256, SEC1 key), PS256, EdDSA, HS256 sign and verify; a method needs its own key type', async () => {
    for (const [method, priv, pub] of [
      ['ES256', p256.priv, p256.pub],
      ['ES384', p384.priv, p384.pub],
      ['PS256', rsa.priv, rsa.pub],
      ['RS512', rsa2.priv, rsa2.pub],
      ['EdDSA', ed.priv, ed.pub],
    ]) {
      const signer = await create(`jwt,priv-key=${priv},sign-method=${method}`);
      const token = await signer.assign({ username: 'u', revision: 2 }, at);
      assert.equal((decodePart(token, 0) as { alg: string }).alg, method);
      assert.deepEqual(await (await create(`jwt,pub-key=${pub},sign-method=${method}`)).info(token), { username: 'u', revision: 2 }, method);
    }
    const secret = writeKey('a shared secret\n');
    const hs = await create(`jwt,priv-key=${secret},sign-method=HS256`);
    assert.deepEqual(await hs.info(await hs.assign({ username: 'u', revision: 2 }, at)), { username: 'u', revision: 2 });
    // A token of one method is refused by a provider of another, even with the same key.
    const es = await create(`jwt,priv-key=${p256.priv},sign-method=ES256`);
    const rs = await create(`jwt,priv-key=${rsa.priv},sign-method=RS256`);
    const ps = await create(`jwt,priv-key=${rsa.priv},sign-method=PS256`);
    assert.equal(await rs.info(await ps.assign({ username: 'u', revision: 2 }, at)), undefined);
    assert.equal(await rs.info(await es.assign({ username: 'u', revision: 2 }, at)), undefined);
  });

  test('a token etcd 3.4.23 issued (ES256, ttl=87600h) verifies here', async () => {
    const etcdPub = writeKey(
      '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEv38rsawapQjwT+LmZxtp8ybszog8\n5Bni/4PJjxuoNND/HUW09UTh3WRxaox5mTbmr7FKAkIUkt9SbYah+xbaUw==\n-----END PUBLIC KEY-----\n',
    );
    const etcdToken =
      'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjIxMTE5MzMxNzQsInJldmlzaW9uIjozLCJ1c2VybmFtZSI6InJvb3QifQ.N2nwaiVXLeFiXAW6RGz4yjk3JTx3W5B8Dk08Y6dW6_aG5w0ESxJpggvieK6VXDcYo9AZWbRSQfG4BjW2UZgWcA';
    const v = await create(`jwt,pub-key=${etcdPub},sign-method=ES256`);
    assert.deepEqual(await v.info(etcdToken), { username: 'root', revision: 3 });
    // Past its exp (2036-12-04), refused.
    const late = await JwtTokenProvider.create(new Map([['pub-key', etcdPub], ['sign-method', 'ES256']]), { nowMs: () => 2111933175_000 });
    assert.equal(await late.info(etcdToken), undefined);
  });

  test('claims that are not etcd\'s are refused', async () => {
    const secret = writeKey('s');
    const hs = await create(`jwt,priv-key=${secret},sign-method=HS256`);
    const { SignJWT } = await loadJose();
    const key = Buffer.from('s');
    const exp = Math.floor(clock.now / 1000) + 60;
    for (const claims of [{ exp, username: 'u' }, { exp, revision: 1 }, { exp, revision: '1', username: 'u' }, { exp, revision: -1, username: 'u' }]) {
      const t = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);
      assert.equal(await hs.info(t), undefined, JSON.stringify(claims));
    }
    const good = await new SignJWT({ exp, revision: 4, username: 'u' }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    assert.deepEqual(await hs.info(good), { username: 'u', revision: 4 });
  });

  test('option errors as etcd reports them', async () => {
    const bad = 'auth: invalid auth options';
    await configRejects(create(`jwt,priv-key=${rsa.priv}`), bad); // no sign-method
    await configRejects(create(`jwt,priv-key=${rsa.priv},sign-method=RS999`), bad);
    await configRejects(create(`jwt,priv-key=${join(keyDir, 'missing.pem')},sign-method=RS256`), bad);
    await configRejects(create(`jwt,priv-key=${rsa.priv},sign-method=RS256,ttl=5 minutes`), bad);
    await configRejects(create('jwt,sign-method=RS256'), 'auth: missing key data');
    await configRejects(create('jwt,sign-method=HS256'), 'auth: missing key data');
    await configRejects(create(`jwt,pub-key=${rsa2.pub},priv-key=${rsa.priv},sign-method=RS256`), "auth: public and private keys don't match");
    await configRejects(create(`jwt,priv-key=${writeKey('not a pem')},sign-method=RS256`), 'invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key');
    await configRejects(create(`jwt,priv-key=${p256.priv},sign-method=RS256`), 'key is not a valid RSA private key');
    await configRejects(create(`jwt,pub-key=${p256.pub},sign-method=PS256`), 'key is not a valid RSA public key');
    await configRejects(create(`jwt,priv-key=${rsa.priv},sign-method=ES256`), 'key is not a valid ECDSA private key');
    await configRejects(create(`jwt,priv-key=${p384.priv},sign-method=ES256`), 'key is not a valid ECDSA private key');
    await configRejects(create(`jwt,pub-key=${rsa.pub},sign-method=EdDSA`), 'key is not a valid Ed25519 public key');
    const p = await create(`jwt,priv-key=${rsa.priv},sign-method=RS256,color=blue`);
    assert.deepEqual(p.options.unknownOptions, ['color']);
    assert.equal(p.options.ttlMs, 300_000);
  });

  test('Go durations', () => {
    const cases: [string, number | undefined][] = [
      ['5m', 300_000],
      ['1h30m', 5_400_000],
      ['1.5s', 1500],
      ['300ms', 300],
      ['0', 0],
      ['-2s', -2000],
      ['+1m', 60_000],
      ['.5h', 1_800_000],
      ['1m30', undefined],
      ['5', undefined],
      ['', undefined],
      ['.s', undefined],
      ['5mx', undefined],
      ['1d', undefined],
    ];
    for (const [text, ms] of cases) assert.equal(parseGoDurationMs(text), ms, text);
  });
});

describe('Authenticate rate limit', () => {
  test('a burst, then refused; attempts come back with time', () => {
    const clock = { now: 0 };
    const l = new AuthRateLimiter({ burst: 3, refillPerSec: 2, nowMs: () => clock.now });
    for (let i = 0; i < 3; i++) assert.equal(l.tryTake('u'), true);
    assert.equal(l.tryTake('u'), false);
    assert.equal(l.tryTake('v'), true, 'names are independent');
    clock.now += 499;
    assert.equal(l.tryTake('u'), false);
    clock.now += 1;
    assert.equal(l.tryTake('u'), true);
    assert.equal(l.tryTake('u'), false);
    clock.now += 10_000;
    for (let i = 0; i < 3; i++) assert.equal(l.tryTake('u'), true, 'refills to the burst, no more');
    assert.equal(l.tryTake('u'), false);
  });

  test('a success gives its attempt back: a user who knows the password is not slowed', () => {
    const l = new AuthRateLimiter({ burst: 2, refillPerSec: 0, nowMs: () => 0 });
    for (let i = 0; i < 100; i++) {
      assert.equal(l.tryTake('u'), true);
      l.succeeded('u');
    }
    assert.equal(l.size, 0, 'full buckets are not kept');
    assert.equal(l.tryTake('u'), true);
    assert.equal(l.tryTake('u'), true);
    assert.equal(l.tryTake('u'), false);
  });

  test('bounded: at most maxNames buckets, refilled ones forgotten first', () => {
    const clock = { now: 0 };
    const l = new AuthRateLimiter({ burst: 1, refillPerSec: 1, maxNames: 3, nowMs: () => clock.now });
    for (const n of ['a', 'b', 'c']) assert.equal(l.tryTake(n), true);
    assert.equal(l.size, 3);
    assert.equal(l.tryTake('d'), true);
    assert.equal(l.size, 3, 'the least recently touched went');
    assert.equal(l.tryTake('b'), false, 'b is still limited');
    clock.now += 1000; // every bucket has refilled
    assert.equal(l.tryTake('e'), true);
    assert.equal(l.size, 1);
  });
});
