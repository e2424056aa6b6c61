/**
 * Builds the SDK's bundles into dist/ with esbuild and prints each one's size, raw and gzipped:
 * `npm run build --workspace packages/sdk` (the root's `prepare` runs it, so `npm install` builds what
 * `GET /sdk/<file>.js` serves).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const SDK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(SDK, 'dist');

/** index: bundlers (platform neutral); node: Node, with the file queue; the rest: script tags (IIFE, minified). */
export const BUNDLES = [
  { file: 'index.mjs', entry: 'index.ts', format: 'esm', platform: 'neutral' },
  { file: 'index.cjs', entry: 'index.ts', format: 'cjs', platform: 'neutral' },
  { file: 'node.mjs', entry: 'node.ts', format: 'esm', platform: 'node' },
  { file: 'node.cjs', entry: 'node.ts', format: 'cjs', platform: 'node' },
  { file: 'openua.js', entry: 'browser.ts', format: 'iife', platform: 'browser' },
  { file: 'custom.js', entry: 'custom.ts', format: 'iife', platform: 'browser' },
  { file: 'cif.js', entry: 'cif-entry.ts', format: 'iife', platform: 'browser' },
];

/** Builds every bundle into `outdir`; answers each one's size in bytes, raw and gzipped. */
export async function buildBundles(outdir = DIST) {
  mkdirSync(outdir, { recursive: true });
  await Promise.all(
    BUNDLES.map((bundle) =>
      build({
        entryPoints: [path.join(SDK, 'src', bundle.entry)],
        outfile: path.join(outdir, bundle.file),
        bundle: true,
        format: bundle.format,
        platform: bundle.platform,
        target: bundle.platform === 'node' ? 'node20' : 'es2020',
        minify: bundle.format === 'iife',
        legalComments: 'none',
        logLevel: 'warning',
      }),
    ),
  );
  return BUNDLES.map(({ file }) => {
    const code = readFileSync(path.join(outdir, file));
    return { file, bytes: code.length, gzip: gzipSync(code).length };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`.padStart(9);
  for (const { file, bytes, gzip } of await buildBundles()) {
    console.log(`${file.padEnd(10)} ${kb(bytes)} raw ${kb(gzip)} gzip`);
  }
}
