// The certificate, key and trusted CAs of one TlsInfo, as node's TLS options, for a server (the
// listeners) or a client (the peer dialer). etcd reads the certificate and key files again on
// every handshake, so that renewed files take effect without a restart; here they are read
// again when their size, time or inode changed (a stat per connection instead of a read and a
// parse). The trusted CA file is read once, as etcd builds its CA pool once.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { opensslCiphers } from './cipher-suites';
import type { TlsInfo, TlsVersion } from './tls-info';

const NODE_VERSION: Record<Exclude<TlsVersion, ''>, 'TLSv1.2' | 'TLSv1.3'> = { 'TLS1.2': 'TLSv1.2', 'TLS1.3': 'TLSv1.3' };

/** The file error as Go prints it ("open /x: no such file or directory"). */
function readError(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
  return new Error(`open ${path}: ${why}`);
}

export function readTlsFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw readError(path, err);
  }
}

function signature(paths: string[]): string {
  return paths
    .map((p) => {
      try {
        const st = statSync(p);
        return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/** etcd's tlsutil.NewCert check: both PEMs parse and the key matches the certificate (Go's words). */
function checkPair(cert: Buffer, key: Buffer): void {
  if (!cert.includes('-----BEGIN')) throw new Error('tls: failed to find any PEM data in certificate input');
  if (!key.includes('-----BEGIN')) throw new Error('tls: failed to find any PEM data in key input');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const m = (err as Error).message;
    if (/key values mismatch/.test(m)) throw new Error('tls: private key does not match public key');
    throw new Error(`tls: ${m}`);
  }
}

/** etcd's baseConfig checks of a TlsInfo's files; throws its errors. */
export function checkTlsFiles(info: TlsInfo, side: 'server' | 'client'): void {
  new TlsCredentials(info, side);
}

/**
 * etcd's words when the files fail at a handshake: its GetCertificate says "peer" on both
 * ports, its GetClientCertificate "client".
 */
export function reloadFailure(side: 'server' | 'client', err: unknown): string {
  const missing = (err as Error).message.endsWith('no such file or directory');
  if (side === 'server') return missing ? 'failed to find peer cert files' : 'failed to create peer certificate';
  return missing ? 'failed to find client cert files' : 'failed to create client certificate';
}

export class TlsCredentials {
  /** Bumped whenever the certificate and key were read anew. */
  version = 0;
  private seen = '';
  private cert: Buffer = Buffer.alloc(0);
  private key: Buffer = Buffer.alloc(0);
  private readonly ca: Buffer | undefined;
  private readonly certFile: string;
  private readonly keyFile: string;

  /**
   * Reads and checks the files (etcd's baseConfig: the member does not start with bad ones).
   * 'client': the pair this member presents when it dials (clientCertFile, else certFile).
   */
  constructor(
    readonly info: TlsInfo,
    side: 'server' | 'client',
  ) {
    if (info.keyFile === '' || info.certFile === '') {
      throw new Error(`KeyFile and CertFile must both be present[key: ${info.keyFile}, cert: ${info.certFile}]`);
    }
    if ((info.clientKeyFile === '') !== (info.clientCertFile === '')) {
      throw new Error(`ClientKeyFile and ClientCertFile must both be present or both absent: key: ${info.clientKeyFile}, cert: ${info.clientCertFile}]`);
    }
    checkPair(readTlsFile(info.certFile), readTlsFile(info.keyFile));
    if (info.clientCertFile !== '') checkPair(readTlsFile(info.clientCertFile), readTlsFile(info.clientKeyFile));
    const useClientPair = side === 'client' && info.clientCertFile !== '';
    this.certFile = useClientPair ? info.clientCertFile : info.certFile;
    this.keyFile = useClientPair ? info.clientKeyFile : info.keyFile;
    if (info.trustedCaFile !== '') {
      const ca = readTlsFile(info.trustedCaFile);
      if (!ca.includes('-----BEGIN CERTIFICATE')) throw new Error(`failed to parse trusted CA file ${info.trustedCaFile}`);
      this.ca = ca;
    }
    this.refresh();
  }

  /**
   * Reads the certificate and key again if their files changed; returns whether they did. Throws
   * when they cannot be read or do not match (a half-written renewal): the caller refuses the
   * connection, as etcd fails the handshake, and the next connection tries again.
   */
  refresh(): boolean {
    const now = signature([this.certFile, this.keyFile]);
    if (now === this.seen) return false;
    const cert = readTlsFile(this.certFile);
    const key = readTlsFile(this.keyFile);
    checkPair(cert, key);
    this.cert = cert;
    this.key = key;
    this.seen = now;
    this.version++;
    return true;
  }

  get certPath(): string {
    return this.certFile;
  }

  get keyPath(): string {
    return this.keyFile;
  }

  /** node's TLS options for the current files, the CA pool and the versions and suites. */
  options(): SecureContextOptions {
    const o: SecureContextOptions = {
      cert: this.cert,
      key: this.key,
      // etcd's default minimum is TLS 1.2; no maximum lets the library choose (TLS 1.3).
      minVersion: NODE_VERSION[this.info.minVersion === '' ? 'TLS1.2' : this.info.minVersion],
    };
    if (this.info.maxVersion !== '') o.maxVersion = NODE_VERSION[this.info.maxVersion];
    if (this.ca !== undefined) o.ca = this.ca;
    const ciphers = opensslCiphers(this.info.cipherSuites);
    if (ciphers !== undefined) o.ciphers = ciphers;
    return o;
  }
}

/** Options for a side with no certificate of its own (dialing https:// without peer TLS): CA and versions only. */
export function bareClientOptions(info: TlsInfo): SecureContextOptions {
  const o: SecureContextOptions = { minVersion: NODE_VERSION[info.minVersion === '' ? 'TLS1.2' : info.minVersion] };
  if (info.maxVersion !== '') o.maxVersion = NODE_VERSION[info.maxVersion];
  if (info.trustedCaFile !== '') o.ca = readTlsFile(info.trustedCaFile);
  const ciphers = opensslCiphers(info.cipherSuites);
  if (ciphers !== undefined) o.ciphers = ciphers;
  return o;
}
