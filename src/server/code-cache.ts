// A V8 code cache for the modules the server loads, so that a restart does not parse and compile
// them again. Loaded first by main.ts (a side-effect import); everything required after it goes
// through here. Measured on a 1,000,000-key store: time to the first served Get 414 -> 386 ms
// (7 alternating pairs); compiling ~260 modules was the largest item of start-up after loading
// them. Node 22 has this built in (module.enableCompileCache), used when present; Node 20 has
// only vm.Script's cachedData, so CommonJS compilation is done here the way Node does it.
//
// The cache is written ~2 s after the member serves (see saveSoon): by then it also holds the
// functions V8 compiled lazily while starting and serving the first requests, which is most of
// the gain. One file per module, named by a hash of the module's path and source: V8's own check
// of cached data compares only the source's length, so an edited file must never find its old
// entry. Files are written whole then renamed, so that a starting process never reads half of
// one. Data V8 rejects (another Node version or V8 flags) is ignored and written anew.
//
// The same directory keeps where each require led (resolve-cache.ts), saved at the same moment.
//
// Off when ETCD_TS_CODE_CACHE=off, with source maps on (Node's loader registers them while
// compiling) or when the directory cannot be written.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import Module from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { installResolveCache, isResolveCacheFile, resolveStats, saveResolveCache } from './resolve-cache';

/** What Node's CommonJS loader has that @types/node does not declare. */
interface LoaderModule {
  exports: unknown;
  require(id: string): unknown;
}
interface Loader {
  prototype: LoaderModule & { _compile(this: LoaderModule, content: string, filename: string, format?: string): unknown };
  wrap(source: string): string;
  _resolveFilename(request: string, parent: LoaderModule, isMain: boolean, options?: { paths?: string[] }): string;
  _resolveLookupPaths(request: string, parent: LoaderModule): string[] | null;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Dict<NodeModule>;
  enableCompileCache?: (dir: string) => unknown;
}

export interface CodeCacheStats {
  dir: string;
  /** Modules whose compiled code came from the cache. */
  fromCache: number;
  /** Modules compiled from source (no entry, or V8 rejected it). */
  compiled: number;
  rejected: number;
  /** Requires answered from the saved resolutions (resolve-cache.ts), and those Node resolved. */
  resolutionsFromCache: number;
  resolutionsSearched: number;
}

/** When the files are written after the member serves. */
const SAVE_AFTER_MS = 2000;
/** The cache is pruned to this process's entries once it holds this many times as many files. */
const PRUNE_FACTOR = 3;

const loader = Module as unknown as Loader;
const dir = process.env.ETCD_TS_CODE_CACHE_DIR ?? resolve(__dirname, '../../.code-cache');
const stats = { dir, fromCache: 0, compiled: 0, rejected: 0 };
/** Scripts compiled from source in this process, by cache file name: written by save(). */
const toWrite = new Map<string, Script>();
const used = new Set<string>();
let installed = false;

function install(): void {
  if (process.env.ETCD_TS_CODE_CACHE === 'off' || process.sourceMapsEnabled) return;
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return;
  }
  installResolveCache(dir);
  if (typeof loader.enableCompileCache === 'function') {
    loader.enableCompileCache(dir);
    return;
  }
  const original = loader.prototype._compile;
  loader.prototype._compile = function compileWithCache(this: LoaderModule, content: string, filename: string, format?: string): unknown {
    // A module that may import() is left to Node: on Node 20 a script compiled from cached data
    // loses its dynamic import callback ("A dynamic import callback was not specified", measured),
    // and vm's way to name the default one is experimental (it prints a warning).
    if (format === 'module' || content.includes('import(')) return original.call(this, content, filename, format);
    let script: Script;
    const name = createHash('sha1').update(filename).update('\0').update(content).digest('hex');
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(join(dir, name));
    } catch {
      cachedData = undefined;
    }
    try {
      script = new Script(loader.wrap(content), { filename, cachedData });
    } catch {
      // Not CommonJS as Node 20 reads it (ES module syntax): Node's own path decides.
      return original.call(this, content, filename, format);
    }
    used.add(name);
    if (cachedData !== undefined && !script.cachedDataRejected) stats.fromCache++;
    else {
      stats.compiled++;
      if (cachedData !== undefined) stats.rejected++;
      toWrite.set(name, script);
    }
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, dirname(filename));
  };
  installed = true;
}

/** The `require` a module gets, as Node's makeRequireFunction builds it. */
function requireFor(mod: LoaderModule): NodeJS.Require {
  const resolveFn = Object.assign((request: string, options?: { paths?: string[] }) => loader._resolveFilename(request, mod, false, options), {
    paths: (request: string) => loader._resolveLookupPaths(request, mod),
  });
  return Object.assign((id: string) => mod.require(id), {
    resolve: resolveFn,
    main: require.main,
    extensions: loader._extensions,
    cache: loader._cache,
  }) as NodeJS.Require;
}

/**
 * Writes the code of every module compiled from source in this process, SAVE_AFTER_MS from now
 * (off the start-up path; the timer does not hold the process). Failures only cost the gain.
 */
export function saveSoon(done?: (s: CodeCacheStats) => void): void {
  // With Node's own compile cache only the resolutions are ours to write.
  const run = installed ? () => save().then((s) => done?.(s)) : saveResolveCache;
  setTimeout(() => void run(), SAVE_AFTER_MS).unref();
}

/** One file at a time through the thread pool: the event loop only serializes each script's code (~0.1 ms). */
async function save(): Promise<CodeCacheStats> {
  await saveResolveCache();
  const scripts = [...toWrite];
  toWrite.clear();
  for (const [name, script] of scripts) {
    const tmp = join(dir, `${name}.${process.pid}.tmp`);
    try {
      await writeFile(tmp, script.createCachedData());
      await rename(tmp, join(dir, name));
    } catch {
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }
  try {
    const files = await readdir(dir);
    if (files.length > PRUNE_FACTOR * used.size) for (const f of files) if (!used.has(f) && !isResolveCacheFile(f)) await rm(join(dir, f), { force: true });
  } catch {
    // Another process pruned at the same time, or the directory went away: nothing is lost.
  }
  return { ...stats, resolutionsFromCache: resolveStats.fromCache, resolutionsSearched: resolveStats.searched };
}

install();
