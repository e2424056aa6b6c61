import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { ROOT } from './server.ts';

/** Debian's Chromium, which `.ci/run` installs; never a browser a test tool downloads. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Why browser tests cannot run here, or undefined when they can. In CI a missing browser is a failure,
 * so the suite runs and fails at launch; on a developer's machine it is skipped, loudly.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.CI) return undefined;
  const reason = `${CHROMIUM} is missing: browser tests SKIPPED (install Debian's chromium, or run .ci/run)`;
  process.stderr.write(`\n!!! ${reason}\n\n`);
  return reason;
}

/** Headless Chromium with the flags this machine's closed network needs (no background connections). */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      ...extraArgs,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A static site on its own origin (`http://localhost:<port>`, while OpenUA listens on 127.0.0.1), so the
 * page's requests are cross-origin as on a real customer site. Files come from test/browser/pages, and
 * `/lib/` from node_modules: the official client's browser build, served locally and never from a CDN.
 */
export async function startPageServer(): Promise<{ origin: string; close: () => Promise<void> }> {
  const files: Record<string, { file: string; type: string }> = {
    '/search-page.html': { file: path.join(ROOT, 'test/browser/pages/search-page.html'), type: 'text/html' },
    '/visitor-page.html': {
      file: path.join(ROOT, 'test/browser/pages/visitor-page.html'),
      type: 'text/html',
    },
    '/lib/coveoua.browser.js': {
      file: path.join(ROOT, 'node_modules/coveo.analytics/dist/coveoua.browser.js'),
      type: 'text/javascript',
    },
  };
  const server: Server = createServer((request, response) => {
    const found = files[new URL(request.url ?? '/', 'http://x').pathname];
    if (!found) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': found.type }).end(readFileSync(found.file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
