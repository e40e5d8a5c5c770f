// What etcd does with the TLS flags before it serves (server/embed/config.go Validate,
// ClientSelfCert, PeerSelfCert; server/embed/etcd.go configurePeerListeners,
// configureClientListeners), in its order and with its errors and warnings:
//  1. the versions and suites: unknown version, min above max, suites with TLS 1.3 only;
//  2. peers: an unknown suite name, the auto TLS pair, then per listen URL: http:// with
//     certificates given is served plain (a warning), https:// without any is an error;
//  3. clients: the same, for --listen-client-urls and --listen-client-http-urls;
//  4. the files given are read and checked once (a bad pair stops the start, as in etcd).
import type { Logger } from 'pino';
import type { ServerConfig } from '../server/config';
import { unknownCipherSuite } from './cipher-suites';
import { checkTlsFiles } from './credentials';
import { selfCert } from './self-cert';
import { clientTlsInfo, peerTlsInfo, selfCertDir, tlsInfoEmpty, type TlsInfo } from './tls-info';

const TLS12 = 0x0303;
const TLS13 = 0x0304;

/** etcd's tlsutil.GetTLSVersion: '' is 0 (the library decides). */
function tlsVersion(v: string): number {
  if (v === '') return 0;
  if (v === 'TLS1.2') return TLS12;
  if (v === 'TLS1.3') return TLS13;
  throw new Error(`unexpected TLS version ${JSON.stringify(v)} (must be one of: TLS1.2, TLS1.3)`);
}

/** The TLS part of etcd's Config.Validate. */
export function validateTlsFlags(c: ServerConfig): void {
  const min = tlsVersion(c.tlsMinVersion);
  const max = tlsVersion(c.tlsMaxVersion);
  if (max !== 0 && min > max) throw new Error(`min version (${c.tlsMinVersion}) is greater than max version (${c.tlsMaxVersion})`);
  if (min === TLS13 && c.cipherSuites.length > 0) throw new Error('cipher suites cannot be configured when only TLS1.3 is enabled');
}

/** u.Host as Go's url.URL has it: "host:port" ("[::1]:2380"). */
function urlHost(url: string): string {
  return new URL(url).host;
}

/** The address a listener binds, as Go prints it (localhost resolves to 127.0.0.1). */
function listenAddr(url: string): string {
  const u = new URL(url);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname;
  return `${host}:${u.port}`;
}

function secure(url: string): boolean {
  const p = new URL(url).protocol;
  return p === 'https:' || p === 'unixs:';
}

function describe(info: TlsInfo): string {
  return `cert = ${info.certFile}, key = ${info.keyFile}, client-cert=${info.clientCertFile}, client-key=${info.clientKeyFile}, trusted-ca = ${info.trustedCaFile}, client-cert-auth = ${info.clientCertAuth}, crl-file = ${info.crlFile}`;
}

/** etcd's Client/PeerSelfCert: generates the pair when auto TLS is on and no certificate is given. */
async function autoTls(c: ServerConfig, log: Logger, side: 'client' | 'peer', on: boolean, given: boolean, urls: string[]): Promise<void> {
  if (!on) return;
  if (given) {
    log.warn(`ignoring ${side} auto TLS since certs given`);
    return;
  }
  try {
    await selfCert(log, selfCertDir(c.dataDir, side), urls.map(urlHost), c.selfSignedCertValidity);
  } catch (err) {
    log.error({ error: (err as Error).message }, `failed to get ${side} self-signed certs`);
    throw err;
  }
}

export interface PreparedTls {
  client: TlsInfo;
  peer: TlsInfo;
}

export async function prepareTls(c: ServerConfig, log: Logger): Promise<PreparedTls> {
  validateTlsFlags(c);

  // Peers first, as etcd configures its peer listeners before its client listeners.
  const badSuite = unknownCipherSuite(c.cipherSuites);
  if (badSuite !== undefined) throw badSuite;
  await autoTls(c, log, 'peer', c.peerAutoTls, c.peerCertFile !== '' || c.peerKeyFile !== '', c.listenPeerUrls);
  const peer = peerTlsInfo(c);
  if (!tlsInfoEmpty(peer)) log.info({ 'tls-info': describe(peer), 'cipher-suites': c.cipherSuites }, 'starting with peer TLS');
  for (const url of c.listenPeerUrls) {
    if (new URL(url).protocol === 'http:') {
      if (!tlsInfoEmpty(peer)) log.warn({ 'peer-url': url }, 'scheme is HTTP while key and cert files are present; ignoring key and cert files');
      if (peer.clientCertAuth) log.warn({ 'peer-url': url }, 'scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL');
    } else if (secure(url) && tlsInfoEmpty(peer)) {
      throw new Error(`cannot listen on TLS for ${listenAddr(url)}: KeyFile and CertFile are not presented`);
    }
  }
  if (!tlsInfoEmpty(peer)) {
    checkTlsFiles(peer, 'server');
    checkTlsFiles(peer, 'client');
  }

  const clientUrls = [...c.listenClientUrls, ...c.listenClientHttpUrls];
  await autoTls(c, log, 'client', c.autoTls, c.certFile !== '' || c.keyFile !== '', clientUrls);
  const client = clientTlsInfo(c);
  for (const url of clientUrls) {
    const p = new URL(url).protocol;
    if (p === 'http:' || p === 'unix:') {
      if (!tlsInfoEmpty(client)) log.warn({ 'client-url': url }, 'scheme is http or unix while key and cert files are present; ignoring key and cert files');
      if (client.clientCertAuth) log.warn({ 'client-url': url }, 'scheme is http or unix while --client-cert-auth is enabled; ignoring client cert auth for this URL');
    }
    if (secure(url) && tlsInfoEmpty(client)) {
      throw new Error(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
    }
  }
  if (!tlsInfoEmpty(client)) log.info({ 'tls-info': describe(client), 'cipher-suites': c.cipherSuites }, 'starting with client TLS');
  if (clientUrls.some(secure)) checkTlsFiles(client, 'server');
  return { client, peer };
}
