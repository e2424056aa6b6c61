import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { removeDir, tempDir } from '../../../test/helpers/server.ts';
import { buildBundles } from '../scripts/build.mjs';

/**
 * The bundles, built as `npm install` builds them (into a directory of the test's own): the size budgets
 * of the issue (custom.js ≤ 5 KB gzip, the search page's; cif.js ≤ 8 KB gzip, the agent desktop's), the
 * custom-event bundle without the channel and desktop helpers, and the library bundles loading.
 */

const KB = 1024;
const outdir = tempDir('openua-sdk-dist-');
let sizes: Awaited<ReturnType<typeof buildBundles>>;
before(async () => {
  sizes = await buildBundles(outdir);
});
after(() => removeDir(outdir));

const gzipOf = (file: string) => sizes.find((size) => size.file === file)?.gzip ?? Number.NaN;

describe('the size budgets', () => {
  it('custom.js (createClient, logCustomEvent and delivery) is at most 5 KB gzip', () => {
    assert.ok(gzipOf('custom.js') <= 5 * KB, `custom.js: ${gzipOf('custom.js')} bytes gzip`);
  });

  it('cif.js is at most 8 KB gzip', () => {
    assert.ok(gzipOf('cif.js') <= 8 * KB, `cif.js: ${gzipOf('cif.js')} bytes gzip`);
  });

  it('tree-shaking keeps the channel and desktop helpers out of custom.js', () => {
    const custom = readFileSync(path.join(outdir, 'custom.js'), 'utf8');
    for (const name of ['initLogAnalytics', 'CIFramework', 'SessionStarted']) {
      assert.ok(!custom.includes(name), `custom.js holds ${name}`);
    }
  });
});

describe('the bundles', () => {
  it('ESM and CJS export the client; Node adds the file queue', async () => {
    const esm = await import(pathToFileURL(path.join(outdir, 'index.mjs')).href);
    const cjs = createRequire(import.meta.url)(path.join(outdir, 'index.cjs'));
    const node = await import(pathToFileURL(path.join(outdir, 'node.mjs')).href);
    for (const bundle of [esm, cjs, node]) {
      for (const name of [
        'createClient',
        'createChannelClient',
        'installCIFramework',
        'createDesktop',
        'OpenUAError',
      ]) {
        assert.equal(typeof bundle[name], 'function', name);
      }
    }
    assert.equal(typeof node.FileQueue, 'function');
    assert.equal(esm.FileQueue, undefined, 'the neutral bundle holds nothing of Node');
  });

  it('the browser bundles add to window.OpenUA rather than replace it', () => {
    const window: { OpenUA?: Record<string, unknown> } = {};
    for (const file of ['custom.js', 'cif.js']) {
      new Function('globalThis', readFileSync(path.join(outdir, file), 'utf8'))(window);
    }
    assert.deepEqual(Object.keys(window.OpenUA ?? {}).sort(), [
      'createChannelClient',
      'createClient',
      'installCIFramework',
    ]);
  });
});
