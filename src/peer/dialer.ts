// The one way this member opens a connection to another member: raft streams, snapshots,
// forwarded requests and the membership fetch of a joining member all dial through a
// PeerDialer, so all of them use the same peer TLS (etcd's PeerTLSInfo.ClientConfig()):
//  - https:// peer URLs are dialed with TLS, http:// ones in plain;
//  - the server's certificate is verified against --peer-trusted-ca-file (the system roots
//    without one) and its host, unless the pair is auto TLS's own (etcd skips verification of
//    self-signed peers);
//  - this member presents --peer-client-cert-file (else --peer-cert-file), read again when the
//    files change, as etcd reads them on every handshake;
//  - --peer-cert-allowed-cn / --peer-cert-allowed-hostname apply to the server's certificate
//    too (etcd puts the check in the TLS config both sides share);
//  - --cipher-suites, --tls-min-version, --tls-max-version.
import * as http2 from 'node:http2';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { bareClientOptions, reloadFailure, TlsCredentials } from '../tls/credentials';
import { EMPTY_TLS_INFO, tlsInfoEmpty, type TlsInfo } from '../tls/tls-info';
import { checkAllowed } from '../tls/verify';

export class PeerDialer {
  private readonly credentials: TlsCredentials | undefined;
  private readonly bare: SecureContextOptions | undefined;

  constructor(
    readonly info: TlsInfo,
    private readonly log: Logger,
  ) {
    // Files were checked at start (tls/prepare.ts); a dialer without peer TLS still dials https://.
    if (tlsInfoEmpty(info)) this.bare = bareClientOptions(info);
    else this.credentials = new TlsCredentials(info, 'client');
  }

  static plain(log: Logger): PeerDialer {
    return new PeerDialer(EMPTY_TLS_INFO, log);
  }

  /** An HTTP/2 session to a peer URL (TLS for https://). */
  connect(url: string, options: http2.ClientSessionOptions = {}): http2.ClientHttp2Session {
    if (new URL(url).protocol !== 'https:') return http2.connect(url, options);
    return http2.connect(url, { ...options, ...this.tlsOptions() });
  }

  private tlsOptions(): http2.SecureClientSessionOptions {
    let base: SecureContextOptions;
    if (this.credentials !== undefined) {
      try {
        this.credentials.refresh();
      } catch (err) {
        // The previous pair stays in use until the files are whole again.
        this.log.warn({ 'cert-file': this.credentials.certPath, 'key-file': this.credentials.keyPath, error: (err as Error).message }, reloadFailure('client', err));
      }
      base = this.credentials.options();
    } else {
      base = this.bare ?? {};
    }
    const info = this.info;
    return {
      ...base,
      rejectUnauthorized: !info.selfCert,
      checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
        const err = checkServerIdentity(host, cert);
        if (err !== undefined) return err;
        return cert.raw === undefined ? undefined : checkAllowed(info, new X509Certificate(cert.raw));
      },
    };
  }
}
