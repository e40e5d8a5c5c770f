// etcd's transport.SelfCert for --auto-tls / --peer-auto-tls: a self-signed certificate and key
// in <dir>/cert.pem and <dir>/key.pem, made once and reused while both files exist. As etcd:
// an ECDSA P-521 key (PEM "EC PRIVATE KEY", mode 0600), subject O=etcd, a random 128-bit
// serial, valid from now for `validityYears` x 365 days, key usage key encipherment + digital
// signature, extended key usage server auth, basic constraints (not a CA), and the hosts of the
// listen URLs as IP or DNS subject alternative names. The key comes from node's WebCrypto; the
// certificate is written by @peculiar/x509.
import { randomBytes, createPrivateKey, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type * as X509 from '@peculiar/x509';
import { x509 as loadX509 } from './x509';

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/** Go's net.SplitHostPort host part of a URL's host ("[::1]:2379" -> "::1"); '' when it has no port. */
function hostOf(hostPort: string): string {
  const m = /^\[([^\]]*)\]:[^:]*$/.exec(hostPort) ?? /^([^:]*):[^:]*$/.exec(hostPort);
  return m === null ? '' : m[1];
}

export interface SelfCertFiles {
  certFile: string;
  keyFile: string;
}

/**
 * Makes (or finds) the self-signed pair in `dir` for `hosts` ("host:port" each). Throws etcd's
 * error for a validity of 0.
 */
export async function selfCert(log: Logger, dir: string, hosts: string[], validityYears: number): Promise<SelfCertFiles> {
  if (validityYears <= 0) throw new Error('selfSignedCertValidity is invalid,it should be greater than 0');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = resolve(join(dir, 'cert.pem'));
  const keyFile = resolve(join(dir, 'key.pem'));
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile };

  const serial = randomBytes(16);
  // A DER INTEGER is signed: a leading zero keeps a high first bit positive.
  const serialHex = (serial[0] & 0x80 ? '00' : '') + serial.toString('hex');
  const notBefore = new Date();
  const notAfter = new Date(notBefore.getTime() + validityYears * YEAR_MS);
  log.warn({ 'certificate-validity-bound-not-after': notAfter.toISOString() }, 'automatically generate certificates');

  const names: { type: 'ip' | 'dns'; value: string }[] = [];
  for (const h of hosts.map(hostOf).filter((h) => h !== '')) names.push({ type: isIP(h) !== 0 ? 'ip' : 'dns', value: h });

  const alg = { name: 'ECDSA', namedCurve: 'P-521', hash: 'SHA-512' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const x509 = loadX509();
  const extensions: X509.Extension[] = [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.BasicConstraintsExtension(false, undefined, true),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: 'O=etcd',
    issuer: 'O=etcd',
    notBefore,
    notAfter,
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions,
  });
  writeFileSync(certFile, cert.toString('pem') + '\n');
  log.info({ path: certFile }, 'created cert file');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const sec1 = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'sec1' });
  writeFileSync(keyFile, sec1, { mode: 0o600 });
  log.info({ path: keyFile }, 'created key file');
  return { certFile, keyFile };
}
