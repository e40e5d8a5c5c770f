// The one entry to @peculiar/x509, the library that writes and reads X.509 structures node's
// crypto cannot (certificate generation for --auto-tls, CRL parsing for --client-crl-file /
// --peer-crl-file). Its 2.x line resolves its ASN.1 providers through tsyringe, which needs the
// Reflect metadata API installed before the library loads; keys and signatures come from node's
// own WebCrypto.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
