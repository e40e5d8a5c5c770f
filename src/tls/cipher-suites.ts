// --cipher-suites takes Go's cipher suite names (etcd's tlsutil.GetCipherSuite looks them up in
// tls.CipherSuites() and tls.InsecureCipherSuites(), plus two short CHACHA20 aliases); node's TLS
// is OpenSSL, which names them its own way. A name Go does not know fails the start with etcd's
// error. As in Go, the list applies to TLS 1.2 only: TLS 1.3 keeps all its suites (Go offers no
// way to choose them), and naming a TLS 1.3 suite changes nothing.

/** Go's name -> OpenSSL's name ('' for TLS 1.3 suites, which are not configurable). */
const GO_TO_OPENSSL: ReadonlyMap<string, string> = new Map([
  // tls.CipherSuites()
  ['TLS_AES_128_GCM_SHA256', ''],
  ['TLS_AES_256_GCM_SHA384', ''],
  ['TLS_CHACHA20_POLY1305_SHA256', ''],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'ECDHE-ECDSA-AES128-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'ECDHE-ECDSA-AES256-SHA'],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'],
  ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'ECDHE-RSA-AES256-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
  // tls.InsecureCipherSuites() (and the RSA key exchange suites, in one list or the other by Go version)
  ['TLS_RSA_WITH_RC4_128_SHA', 'RC4-SHA'],
  ['TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'DES-CBC3-SHA'],
  ['TLS_RSA_WITH_AES_128_CBC_SHA', 'AES128-SHA'],
  ['TLS_RSA_WITH_AES_256_CBC_SHA', 'AES256-SHA'],
  ['TLS_RSA_WITH_AES_128_CBC_SHA256', 'AES128-SHA256'],
  ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'],
  ['TLS_RSA_WITH_AES_256_GCM_SHA384', 'AES256-GCM-SHA384'],
  ['TLS_ECDHE_ECDSA_WITH_RC4_128_SHA', 'ECDHE-ECDSA-RC4-SHA'],
  ['TLS_ECDHE_RSA_WITH_RC4_128_SHA', 'ECDHE-RSA-RC4-SHA'],
  ['TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', 'ECDHE-RSA-DES-CBC3-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', 'ECDHE-ECDSA-AES128-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 'ECDHE-RSA-AES128-SHA256'],
  // GetCipherSuite's aliases
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
]);

/** Every TLS 1.3 suite, in OpenSSL's default order: Go never restricts TLS 1.3. */
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

/** etcd's tlsutil.GetCipherSuites error for the first name Go does not know, or undefined. */
export function unknownCipherSuite(names: string[]): Error | undefined {
  const bad = names.find((n) => !GO_TO_OPENSSL.has(n));
  return bad === undefined ? undefined : new Error(`unexpected TLS cipher suite ${JSON.stringify(bad)}`);
}

/**
 * node's `ciphers` option for Go names (already checked), or undefined for node's defaults.
 * TLS 1.3 suites are always listed: without one node would turn TLS 1.3 off.
 */
export function opensslCiphers(names: string[]): string | undefined {
  if (names.length === 0) return undefined;
  const tls12 = [...new Set(names.map((n) => GO_TO_OPENSSL.get(n) ?? '').filter((n) => n !== ''))];
  return [TLS13_SUITES, ...tls12].join(':');
}
