// The one entry to @peculiar/x509, the library that writes and reads X.509 structures node's
// crypto cannot (certificate generation for --auto-tls, CRL parsing for --client-crl-file /
// --peer-crl-file). Its 2.x line resolves its ASN.1 providers through tsyringe, which needs the
// Reflect metadata API installed before the library loads; keys and signatures come from node's
// own WebCrypto. Loaded on first use: it is a tenth of a plain member's start-up otherwise, and
// most members never make a certificate or read a CRL.
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

let loaded: typeof X509 | undefined;

/** The library, loaded (and given node's WebCrypto) on the first call. */
export function x509(): typeof X509 {
  if (loaded === undefined) {
    require('reflect-metadata');
    const lib = require('@peculiar/x509') as typeof X509;
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
    loaded = lib;
  }
  return loaded;
}
