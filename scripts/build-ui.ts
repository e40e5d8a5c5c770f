// Builds the web dashboard into dist/ui/: compiles ui/src (its own tsconfig: DOM, ES modules,
// preact's JSX) into dist/ui/app/, copies ui/static/, and copies preact's ESM builds from
// node_modules into dist/ui/vendor/ (index.html's import map names them). Nothing is fetched at
// run time; the server (src/ui/ui-handler.ts) serves what is here.
//   node dist/scripts/build-ui.js
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const OUT = join(ROOT, 'dist', 'ui');

/** preact's browser modules: node_modules path -> vendor file name. */
const VENDOR: ReadonlyArray<readonly [string, string]> = [
  ['preact/dist/preact.module.js', 'preact.module.js'],
  ['preact/hooks/dist/hooks.module.js', 'hooks.module.js'],
  ['preact/jsx-runtime/dist/jsxRuntime.module.js', 'jsxRuntime.module.js'],
];

function copyDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyDir(join(from, e.name), join(to, e.name));
    else copyFileSync(join(from, e.name), join(to, e.name));
  }
}

export function buildUi(): void {
  // A file removed from the sources must not linger in what is served.
  rmSync(OUT, { recursive: true, force: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'ui', 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc -p ui/tsconfig.json exited ${r.status}`);
  copyDir(join(ROOT, 'ui', 'static'), OUT);
  const vendor = join(OUT, 'vendor');
  mkdirSync(vendor, { recursive: true });
  // package.json is exported; the dist files are found beside it (the exports map hides them).
  const preactDir = dirname(require.resolve('preact/package.json', { paths: [ROOT] }));
  for (const [from, name] of VENDOR) {
    const src = join(preactDir, from.slice('preact/'.length));
    copyFileSync(src, join(vendor, name));
    // The source maps the modules name, so that the browser's tools do not ask for a missing file.
    copyFileSync(`${src}.map`, join(vendor, `${name}.map`));
  }
  copyFileSync(join(preactDir, 'LICENSE'), join(vendor, 'preact.LICENSE.txt'));
  writeFileSync(join(OUT, '.build-stamp'), `${new Date().toISOString()}\n`);
}

if (require.main === module) buildUi();
