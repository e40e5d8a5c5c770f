// Every view has a URL (hash routes, so the static server needs one file): #/keys/<prefix>,
// #/key/<key>, #/watch/<prefix>, #/cluster, #/leases, #/users. Keys are percent-encoded byte by
// byte (bytes.ts), so a shared link names exactly the same bytes.
import { fromRoutePart, toRoutePart } from './bytes.js';

export type Route =
  | { page: 'keys'; prefix: Uint8Array }
  | { page: 'key'; key: Uint8Array }
  | { page: 'watch'; prefix: Uint8Array | undefined }
  | { page: 'cluster' }
  | { page: 'leases' }
  | { page: 'users' };

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const m = /^\/([a-z]+)\/?(.*)$/s.exec(h);
  if (m === null) return { page: 'keys', prefix: new Uint8Array(0) };
  const [, page, rest] = m;
  switch (page) {
    case 'key':
      return { page: 'key', key: fromRoutePart(rest) };
    case 'watch':
      return { page: 'watch', prefix: rest === '' && !h.startsWith('/watch/') ? undefined : fromRoutePart(rest) };
    case 'cluster':
      return { page: 'cluster' };
    case 'leases':
      return { page: 'leases' };
    case 'users':
      return { page: 'users' };
    default:
      return { page: 'keys', prefix: fromRoutePart(rest) };
  }
}

export const keysHref = (prefix: Uint8Array): string => `#/keys/${toRoutePart(prefix)}`;
export const keyHref = (key: Uint8Array): string => `#/key/${toRoutePart(key)}`;
export const watchHref = (prefix: Uint8Array): string => `#/watch/${toRoutePart(prefix)}`;
