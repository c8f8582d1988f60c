import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** CLI and stdio tests run the real binary: build dist/ once before the suite. */
export default function setup(): void {
  // Unit-only runs (`vitest run src/...`) may skip it.
  if (process.env.GATEHOUSE_TEST_NO_BUILD === '1') return;
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  // The rest of `npm run build`: the precompiled spec validators (load-spec.ts).
  execFileSync(process.execPath, ['scripts/build-validators.mjs'], { cwd: root, stdio: 'inherit' });
}
