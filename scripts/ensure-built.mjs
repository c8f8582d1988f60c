// `prestart`: builds dist/ (tsc, then the precompiled validators, as
// `npm run build` does) when dist/cli/main.js is missing or older than any
// file in src/ (or tsconfig.json), or a generated validator is missing.
// Silent when the build is current.

import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { URL, fileURLToPath } from 'node:url';
import process from 'node:process';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUTPUT = join(ROOT, 'dist', 'cli', 'main.js');
const VALIDATORS = [...['2.0', '3.0', '3.1'].map((v) => join(ROOT, 'dist', 'openapi', 'spec-validators', `v${v}.js`)), join(ROOT, 'dist', 'config', 'generated', 'validators.js')];
const GENERATE = join(ROOT, 'scripts', 'build-validators.mjs');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Newest mtime (ms) under `dir`, directories included (a deleted or renamed file changes its directory's mtime). */
function newestMtime(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function staleReason() {
  if (!existsSync(OUTPUT)) return 'dist/cli/main.js is missing';
  const built = statSync(OUTPUT).mtimeMs;
  if (newestMtime(join(ROOT, 'src')) > built) return 'src/ changed';
  if (statSync(join(ROOT, 'tsconfig.json')).mtimeMs > built) return 'tsconfig.json changed';
  if (!VALIDATORS.every((f) => existsSync(f))) return 'the generated validators are missing';
  return undefined;
}

const reason = staleReason();
if (reason !== undefined) {
  process.stdout.write(`gatehouse: building dist/ with tsc (${reason})\n`);
  if (!existsSync(TSC)) {
    process.stderr.write('gatehouse: node_modules/typescript is missing; run `npm ci` first.\n');
    process.exit(1);
  }
  const result = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  if (result.error) {
    process.stderr.write(`gatehouse: cannot run tsc: ${result.error.message}\n`);
    process.exit(1);
  }
  if (result.status !== 0) {
    // tsc emits even when type-checking fails; backdate the output so the next
    // run rebuilds instead of trusting a build that failed.
    if (existsSync(OUTPUT)) utimesSync(OUTPUT, 0, 0);
    process.exit(result.status ?? 1);
  }
  const generated = spawnSync(process.execPath, [GENERATE], { cwd: ROOT, stdio: 'inherit' });
  if (generated.error || generated.status !== 0) {
    if (existsSync(OUTPUT)) utimesSync(OUTPUT, 0, 0);
    process.stderr.write(`gatehouse: cannot generate the validators${generated.error ? `: ${generated.error.message}` : ''}\n`);
    process.exit(generated.status ?? 1);
  }
}
