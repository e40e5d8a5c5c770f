// Where each `require` of the server's modules led at the last start, so that the next start does
// not search for it again. Node resolves every require anew in each process: for a relative one it
// stats the candidates (with and without extensions) and takes the real path; for a package it
// walks node_modules and reads package.json "exports". Measured on this machine: 442 resolutions,
// 33-37 ms of the ~145 ms it took to load the server's 262 modules.
//
// Installed by code-cache.ts, saved beside its files. An entry is (the requiring module's directory,
// the request) -> the file. Kept only while every directory involved is as it was: a file added
// or removed (which could change what a request finds) changes its directory's mtime, and npm
// rewrites node_modules/.package-lock.json on every install. Anything else goes to Node as before.
import { readFileSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import Module, { isBuiltin } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';

interface ResolvingModule {
  filename?: string | null;
}
interface Resolver {
  _resolveFilename(request: string, parent: ResolvingModule | undefined, isMain: boolean, options?: unknown): string;
}

/** The file's shape: the directories' mtimes it holds for, then the resolutions. */
interface SavedResolutions {
  version: 1;
  stamps: Record<string, number>;
  entries: Record<string, string>;
}

const FILE = 'resolutions.json';
/** Changed by every npm install (see the header). */
const LOCK_STAMP = join(__dirname, '..', '..', '..', 'node_modules', '.package-lock.json');
/** Bounds what a start records (the server needs ~450). */
const MAX_ENTRIES = 5000;

const resolver = Module as unknown as Resolver;
/** Resolutions this start may take without asking Node. */
let known = new Map<string, string>();
/** What this start resolved (the next start's file). */
const seen = new Map<string, string>();
let dir: string | undefined;
/** Requires answered from the cache, and those Node resolved, in this process. */
export const resolveStats = { fromCache: 0, searched: 0 };

/** Reads the last start's resolutions from `cacheDir` and answers from them from now on. */
export function installResolveCache(cacheDir: string): void {
  if (dir !== undefined) return;
  dir = cacheDir;
  known = load(join(cacheDir, FILE));
  const original = resolver._resolveFilename;
  resolver._resolveFilename = function resolveWithCache(request, parent, isMain, options) {
    const from = parent?.filename;
    // Builtins, calls with options (require.resolve's paths) and the main module go to Node unchanged.
    if (options !== undefined || isMain || typeof from !== 'string' || isBuiltin(request)) return original.call(this, request, parent, isMain, options);
    const key = `${dirname(from)}\0${request}`;
    const hit = known.get(key);
    if (hit !== undefined) {
      resolveStats.fromCache++;
      seen.set(key, hit);
      return hit;
    }
    resolveStats.searched++;
    const filename = original.call(this, request, parent, isMain, options);
    if (isAbsolute(filename) && seen.size < MAX_ENTRIES) seen.set(key, filename);
    return filename;
  };
}

/** Writes this start's resolutions, when they differ from what it read. Failures only cost the gain. */
export async function saveResolveCache(): Promise<void> {
  if (dir === undefined || sameEntries(seen, known)) return;
  const stamps: Record<string, number> = {};
  const stampOf = (path: string): void => {
    if (path in stamps) return;
    const mtimeMs = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
    if (mtimeMs !== undefined) stamps[path] = mtimeMs;
  };
  const entries: Record<string, string> = {};
  try {
    stampOf(LOCK_STAMP);
    for (const [key, filename] of seen) {
      stampOf(key.slice(0, key.indexOf('\0')));
      stampOf(dirname(filename));
      entries[key] = filename;
    }
  } catch {
    return;
  }
  const saved: SavedResolutions = { version: 1, stamps, entries };
  const path = join(dir, FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(saved));
    await rename(tmp, path);
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** Whether a name in the cache directory is this module's file. */
export function isResolveCacheFile(name: string): boolean {
  return name === FILE || (name.startsWith(`${FILE}.`) && name.endsWith('.tmp'));
}

function load(path: string): Map<string, string> {
  const out = new Map<string, string>();
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return out;
  }
  if (!isSaved(saved)) return out;
  try {
    for (const [p, mtimeMs] of Object.entries(saved.stamps)) {
      if (statSync(p, { throwIfNoEntry: false })?.mtimeMs !== mtimeMs) return out;
    }
  } catch {
    return out;
  }
  for (const [key, filename] of Object.entries(saved.entries)) out.set(key, filename);
  return out;
}

function isSaved(v: unknown): v is SavedResolutions {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<SavedResolutions>;
  if (r.version !== 1 || typeof r.stamps !== 'object' || r.stamps === null || typeof r.entries !== 'object' || r.entries === null) return false;
  return Object.values(r.stamps).every((n) => typeof n === 'number') && Object.values(r.entries).every((f) => typeof f === 'string' && isAbsolute(f));
}

function sameEntries(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
