// Test certificates: a CA and the certificates it signs, written as PEM files, made with the
// same library the member uses for --auto-tls (src/tls/x509.ts) and ECDSA P-256 keys from
// node's WebCrypto (fast to make, accepted by Go's etcdctl and grpc-js alike).
import { randomBytes, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x509 as loadX509 } from '../../src/tls/x509';

const x509 = loadX509();

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;

type KeyPair = { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey };

export interface Ca {
  name: string;
  certPem: string;
  keys: KeyPair;
}

export interface Leaf {
  certPem: string;
  keyPem: string;
}

export interface LeafOptions {
  cn: string;
  ips?: string[];
  dns?: string[];
  /** Extended key usages; both by default (a member's certificate serves and dials). */
  usage?: 'server' | 'client' | 'both';
  /** Hex serial (default random). */
  serial?: string;
}

function serial(): string {
  return '01' + randomBytes(15).toString('hex');
}

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
}

export async function makeCa(cn: string): Promise<Ca> {
  const keys = await keyPair();
  const name = `CN=${cn}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name,
    issuer: name,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 30 * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name, certPem: cert.toString('pem') + '\n', keys };
}

export async function issue(ca: Ca, o: LeafOptions): Promise<Leaf> {
  const keys = await keyPair();
  const usage = o.usage ?? 'both';
  const eku = usage === 'server' ? [x509.ExtendedKeyUsage.serverAuth] : usage === 'client' ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const names = [...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })), ...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value }))];
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(eku),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? serial(),
    subject: `CN=${o.cn}`,
    issuer: ca.name,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 30 * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

export interface LeafFiles {
  cert: string;
  key: string;
}

/** Writes the CA's certificate to <dir>/<file>; returns the path. */
export function writeCa(dir: string, file: string, ca: Ca): string {
  const path = join(dir, file);
  writeFileSync(path, ca.certPem);
  return path;
}

/** Writes <dir>/<name>.pem and <dir>/<name>-key.pem. */
export function writeLeaf(dir: string, name: string, leaf: Leaf): LeafFiles {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  writeFileSync(cert, leaf.certPem);
  writeFileSync(key, leaf.keyPem, { mode: 0o600 });
  return { cert, key };
}

/** A CRL from `ca` revoking the given hex serials, PEM. */
export async function makeCrl(ca: Ca, revokedSerials: string[]): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.name,
    thisUpdate: new Date(Date.now() - DAY_MS),
    nextUpdate: new Date(Date.now() + 30 * DAY_MS),
    entries: revokedSerials.map((s) => ({ serialNumber: s, revocationDate: new Date(Date.now() - DAY_MS) })),
    signingAlgorithm: ALG,
    signingKey: ca.keys.privateKey,
  });
  return crl.toString('pem') + '\n';
}
