// The checks etcd makes on a verified client certificate beyond the CA's signature
// (client/pkg/transport/listener.go baseConfig, listener_tls.go):
//  - allowed CNs / hostnames (--peer-cert-allowed-cn, --peer-cert-allowed-hostname,
//    --client-cert-allowed-hostname): the leaf must match one, else
//    "client certificate authentication failed";
//  - SAN against the remote address (peer listener, unless
//    --experimental-peer-skip-client-san-verification): a certificate that names IPs or hosts
//    must name the address the connection comes from (DNS names by reverse and forward lookup);
//  - the CRL (--client-crl-file, --peer-crl-file): no certificate of the chain revoked; the file
//    is read for every connection, as etcd does.
import { promises as dns } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { TlsInfo } from './tls-info';
import { x509 } from './x509';
import type * as X509 from '@peculiar/x509';

/** A DNS lookup during the SAN check waits at most this long. */
const LOOKUP_TIMEOUT_MS = 5000;

export interface Sans {
  ips: string[];
  dns: string[];
}

/** The IP and DNS subject alternative names of a certificate. */
export function sansOf(cert: X509Certificate): Sans {
  const out: Sans = { ips: [], dns: [] };
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('IP Address:')) out.ips.push(part.slice('IP Address:'.length));
    else if (part.startsWith('DNS:')) out.dns.push(part.slice('DNS:'.length));
  }
  return out;
}

/** The CN of a certificate's subject ('' when none). */
export function commonName(cert: X509Certificate): string {
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return '';
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Go's x509.Certificate.VerifyHostname, with its error text. */
export function verifyHostname(cert: X509Certificate, host: string): Error | undefined {
  const h = unmapped(host.replace(/^\[|\]$/g, ''));
  if (isIP(h) !== 0) {
    if (cert.checkIP(h) !== undefined) return undefined;
    const { ips } = sansOf(cert);
    return new Error(ips.length === 0 ? `x509: cannot validate certificate for ${h} because it doesn't contain any IP SANs` : `x509: certificate is valid for ${ips.join(', ')}, not ${h}`);
  }
  if (cert.checkHost(h, { subject: 'never' }) !== undefined) return undefined;
  const { dns: names } = sansOf(cert);
  return new Error(names.length === 0 ? 'x509: certificate is not valid for any names, but wanted to match ' + h : `x509: certificate is valid for ${names.join(', ')}, not ${h}`);
}

/** baseConfig's VerifyPeerCertificate: undefined when the leaf passes, or nothing is asked of it. */
export function checkAllowed(info: TlsInfo, leaf: X509Certificate): Error | undefined {
  const failed = new Error('client certificate authentication failed');
  if (info.allowedCns.length > 0) return info.allowedCns.includes(commonName(leaf)) ? undefined : failed;
  if (info.allowedHostnames.length > 0) return info.allowedHostnames.some((h) => verifyHostname(leaf, h) === undefined) ? undefined : failed;
  return undefined;
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('lookup timed out')), LOOKUP_TIMEOUT_MS).unref())]);
}

/** etcd's checkCertSAN: the certificate names the address the connection comes from. */
export async function checkSan(leaf: X509Certificate, remoteAddress: string): Promise<Error | undefined> {
  const { ips, dns: names } = sansOf(leaf);
  if (ips.length === 0 && names.length === 0) return undefined;
  const host = unmapped(remoteAddress);
  if (ips.length > 0) {
    const err = verifyHostname(leaf, host);
    if (err === undefined) return undefined;
    if (names.length === 0) return err;
  }
  let lookupError: Error | undefined;
  // Reverse: a name the address resolves back to.
  try {
    const found = (await withTimeout(dns.reverse(host))).map((n) => n.replace(/\.$/, ''));
    for (const n of found) {
      if (names.some((d) => (d.startsWith('*.') ? n.endsWith(d.slice(1)) : n === d))) return undefined;
    }
  } catch (err) {
    lookupError = err as Error;
  }
  // Forward: a name (not a wildcard) that resolves to the address.
  for (const d of names.filter((n) => !n.startsWith('*.'))) {
    try {
      const addrs = await withTimeout(dns.lookup(d, { all: true }));
      if (addrs.some((a) => a.address === host)) return undefined;
    } catch (err) {
      lookupError = err as Error;
    }
  }
  const suffix = lookupError === undefined ? '' : ` (${lookupError.message})`;
  return new Error(`tls: ${JSON.stringify(host)} does not match any of DNSNames ${JSON.stringify(names)}${suffix}`);
}

/** The certificates a peer presented, leaf first (node's chain, up to its root). */
export function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c !== undefined && c.raw !== undefined && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(c.raw);
    const next: PeerCertificate | undefined = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
    c = next;
  }
  return out;
}

/** Big-endian magnitude without leading zeros, as Go's big.Int.Bytes() compares serials. */
function serialKey(hex: string): string {
  return hex.toLowerCase().replace(/^(00)+/, '');
}

/** etcd's checkCRL: reads the CRL file (PEM or DER) and refuses a chain with a revoked serial. */
export async function checkCrl(crlFile: string, chain: Buffer[]): Promise<Error | undefined> {
  let crl: X509.X509Crl;
  try {
    const bytes = await readFile(crlFile);
    crl = new (x509().X509Crl)(bytes.includes('-----BEGIN') ? bytes.toString('latin1') : bytes);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  const revoked = new Set(crl.entries.map((e) => serialKey(e.serialNumber)));
  for (const raw of chain) {
    const serial = serialKey(new X509Certificate(raw).serialNumber);
    if (revoked.has(serial)) return new Error(`transport: certificate serial ${serial} revoked`);
  }
  return undefined;
}
