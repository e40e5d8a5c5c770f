// The server side of TLS for a listener the member owns: sockets accepted by our own net.Server
// go through the handshake here and come out as TLSSockets, checked as etcd checks them
// (transport.TLSInfo.ServerConfig plus its TLS listener), for the caller to serve.
//  - A client certificate is required and verified when a trusted CA is given or client
//    certificate auth is on (etcd's RequireAndVerifyClientCert for either).
//  - The certificate and key are read again when their files change (credentials.ts), so a
//    renewal takes effect for the next connection.
//  - A refused connection is logged as etcd logs it ("rejected connection on ... endpoint").
// A tls.Server that never listens does the handshakes (timeouts, session tickets, ALPN).
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { reloadFailure, type TlsCredentials } from './credentials';
import { checkAllowed, checkCrl, checkSan, peerChain, sansOf } from './verify';
import type { TlsInfo } from './tls-info';

export interface TerminatorOptions {
  /** ALPN protocols offered, in the server's order of preference. */
  alpn: string[];
  /** Check client certificate SANs against the remote address (etcd's peer listener). */
  checkSan: boolean;
  /** etcd's words for a refused connection on this listener. */
  rejectMessage: 'rejected connection on client endpoint' | 'rejected connection on peer endpoint';
  log: Logger;
}

export class TlsTerminator {
  private readonly server: Server;
  private readonly requireClientCert: boolean;
  private applied: number;

  constructor(
    private readonly credentials: TlsCredentials,
    private readonly o: TerminatorOptions,
    private readonly onSecure: (socket: TLSSocket) => void,
  ) {
    const info = credentials.info;
    this.requireClientCert = info.trustedCaFile !== '' || info.clientCertAuth;
    this.server = createServer({
      ...credentials.options(),
      requestCert: this.requireClientCert,
      rejectUnauthorized: this.requireClientCert,
      ALPNProtocols: o.alpn,
    });
    this.applied = credentials.version;
    this.server.on('secureConnection', (socket: TLSSocket) => this.secured(socket));
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.reject(socket, err));
  }

  get info(): TlsInfo {
    return this.credentials.info;
  }

  /** Starts the handshake on an accepted socket. */
  accept(socket: Socket): void {
    try {
      this.credentials.refresh();
    } catch (err) {
      // etcd's GetCertificate failing: the handshake fails, the next one reads the files again.
      this.o.log.warn({ 'cert-file': this.credentials.certPath, 'key-file': this.credentials.keyPath, error: (err as Error).message }, reloadFailure('server', err));
      socket.destroy();
      return;
    }
    if (this.credentials.version !== this.applied) {
      this.server.setSecureContext(this.credentials.options());
      this.applied = this.credentials.version;
    }
    // Read (and cached by node) now: a refused handshake destroys the socket before it is logged.
    void socket.remoteAddress;
    this.server.emit('connection', socket);
  }

  private secured(socket: TLSSocket): void {
    socket.on('error', () => undefined);
    const leaf = socket.getPeerX509Certificate();
    if (this.requireClientCert && leaf !== undefined) {
      const refused = checkAllowed(this.info, leaf);
      if (refused !== undefined) return this.reject(socket, refused);
    }
    const checks: Promise<Error | undefined>[] = [];
    if (leaf !== undefined && this.o.checkSan && !this.info.skipClientSanVerify) checks.push(checkSan(leaf, socket.remoteAddress ?? ''));
    if (leaf !== undefined && this.info.crlFile !== '') checks.push(checkCrl(this.info.crlFile, peerChain(socket)));
    if (checks.length === 0) return this.onSecure(socket);
    // Nothing reads the client's bytes until it passed: they wait in the socket.
    void (async () => {
      for (const c of checks) {
        const err = await c;
        if (err !== undefined) return this.reject(socket, err);
      }
      if (!socket.destroyed) this.onSecure(socket);
    })();
  }

  private reject(socket: TLSSocket, err: Error): void {
    // node's TLSSocket keeps the TCP socket it wraps as _parent; its address outlives the handshake.
    const tcp = (socket as unknown as { _parent?: Socket })._parent ?? socket;
    const fields: Record<string, unknown> = {
      'remote-addr': `${tcp.remoteAddress}:${tcp.remotePort}`,
      'server-name': typeof socket.servername === 'string' ? socket.servername : '',
    };
    const leaf = socket.getPeerX509Certificate?.();
    if (leaf !== undefined) {
      const sans = sansOf(leaf);
      fields['ip-addresses'] = sans.ips;
      fields['dns-names'] = sans.dns;
    }
    this.o.log.warn({ ...fields, error: goHandshakeError(err, socket) }, this.o.rejectMessage);
    socket.destroy();
  }
}

/** The reason a handshake failed, in Go's words where they are known (for the log). */
function goHandshakeError(err: Error & { code?: string; reason?: string }, socket: TLSSocket): string {
  if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return "tls: client didn't provide a certificate";
  const verify = socket.authorizationError as unknown as string | null | undefined;
  if (typeof verify === 'string' && verify !== '') {
    if (verify === 'CERT_HAS_EXPIRED' || verify === 'CERT_NOT_YET_VALID') return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
    if (/ISSUER|SELF_SIGNED|LEAF_SIGNATURE|UNTRUSTED/.test(verify)) return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
    return `tls: failed to verify certificate: ${verify}`;
  }
  if (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || err.code === 'ERR_SSL_HTTP_REQUEST') return 'tls: first record does not look like a TLS handshake';
  // The client went away mid-handshake: Go reads the end of the stream.
  if (err.code === 'ECONNRESET') return 'EOF';
  return err.reason ?? err.message.split('\n')[0];
}
