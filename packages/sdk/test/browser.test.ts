import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkipReason, launchChromium } from '../../../test/helpers/browser.ts';
import { createProvider, filter, odataList, unique } from '../../../test/helpers/channel.ts';
import {
  call,
  createKey,
  newMasterKey,
  ROOT,
  removeDir,
  type ServerProcess,
  spawnServer,
  startServer,
  type TestServer,
  tempDir,
} from '../../../test/helpers/server.ts';
import type * as Sdk from '../src/index.ts';
import { countByKey, storedEvents } from './helpers/events.ts';
import { type Relay, startRelay } from './helpers/proxy.ts';

/** A new conversation's ids, as a provider names them. */
const newConversation = () => ({
  conversationId: unique('conversation'),
  providerSessionId: unique('session'),
  participantId: unique('agent'),
});

/**
 * The SDK in real Chromium, loaded as a page on another site loads it: `<script src="<OpenUA>/sdk/….js">`,
 * served by OpenUA (cross-origin, so its CORS, CORP and cache headers are what a customer's page meets). The
 * pages live on their own origin (`http://localhost:<port>`, while OpenUA listens on 127.0.0.1), served by this
 * test, so that they stay up, and keep their IndexedDB, while OpenUA goes down and comes back.
 */

const skip = browserSkipReason();

/**
 * A page of another site: `/page.html?script=<url>` loads that one script; `/away.html` loads nothing (a page
 * navigated to, where no SDK could deliver what the last one left).
 */
async function startSite(): Promise<{ origin: string; close: () => Promise<void> }> {
  const attribute = (text: string) =>
    text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://site');
    const script = url.searchParams.get('script');
    const body =
      url.pathname === '/page.html' && script
        ? `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A page using the OpenUA SDK</title><link rel="icon" href="data:,">
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:46em}pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}</style>
<script src="${attribute(script)}"></script></head>
<body><h1>OpenUA SDK</h1><p>Loaded from <code>${attribute(script)}</code></p><pre id="log"></pre></body></html>`
        : url.pathname === '/away.html'
          ? '<!doctype html><title>Elsewhere</title><link rel="icon" href="data:,"><p>Another page.</p>'
          : undefined;
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Waits until `read` gives at least `count` items (a beacon is never answered), or gives up after 20 s. */
async function eventually<T>(read: () => Promise<T[]>, count: number): Promise<T[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const items = await read();
    if (items.length >= count || Date.now() > deadline) return items;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A provider's widget, as written for the Channel Integration Framework (plain script, no SDK in sight): it
 * reports a conversation, then its KPI events, each with `.then(success, error)`, and shows what it got.
 */
const PROVIDER_WIDGET = `
  function show(line) {
    document.getElementById('log').textContent += line + '\\n';
  }
  async function providerWidget(ids) {
    const cid = ids.correlationId;
    const data = {
      conversation: {
        conversationId: ids.conversationId,
        channel: 'chat',
        session: {
          providerSessionId: ids.providerSessionId,
          participants: [{ participantId: ids.participantId, name: 'Alex', type: 'Agent' }],
        },
      },
    };
    const initialized = await Microsoft.CIFramework.initLogAnalytics(JSON.stringify(data), cid);
    show('initLogAnalytics: ' + initialized);
    function kpiEvent(conversationId, eventName) {
      return {
        conversationId: conversationId,
        providerSessionId: ids.providerSessionId,
        participantId: ids.participantId,
        events: [{ kpiEventName: eventName, eventTimestamp: new Date().toISOString() }],
      };
    }
    const logged = [];
    for (const eventName of ['NotificationReceived', 'NotificationAccepted', 'SessionStarted']) {
      await Microsoft.CIFramework.logAnalyticsEvent(JSON.stringify(kpiEvent(ids.conversationId, eventName)), eventName, cid)
        .then(
          function (result) { logged.push(result); show(eventName + ': ' + result); },
          function (error) { logged.push('error: ' + error.message); show(eventName + ' failed: ' + error.message); },
        );
    }
    // A conversation never initialised: the framework said "success" and dropped it; OpenUA says why.
    const refused = await Microsoft.CIFramework.logAnalyticsEvent(
      JSON.stringify(kpiEvent('never-initialised', 'SessionClosed')), 'SessionClosed', cid,
    ).then(
      function (result) { return { message: 'resolved: ' + result }; },
      function (error) { return { message: error.message, code: error.code, violations: error.violations }; },
    );
    show('SessionClosed of an unknown conversation: ' + refused.message);
    const environment = await Microsoft.CIFramework.getEnvironment();
    return { initialized: initialized, logged: logged, refused: refused, environment: environment };
  }`;

/** Notes each `navigator.sendBeacon` call (its URL, and whether the browser took it) in sessionStorage. */
const NOTE_BEACONS = `
  const send = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = function (url, data) {
    const queued = send(url, data);
    const noted = JSON.parse(sessionStorage.getItem('beacons') || '[]');
    sessionStorage.setItem('beacons', JSON.stringify([...noted, { url: String(url), queued }]));
    return queued;
  };`;

/** Saves what the page shows to test-results/ (gitignored), to look at. */
async function screenshot(page: Page, name: string) {
  const shots = path.join(ROOT, 'test-results');
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, name), fullPage: true });
}

/** Shows a line in the page's log, for the screenshot. */
const show = (page: Page, line: string) =>
  page.evaluate((text) => {
    (document.getElementById('log') as HTMLElement).textContent += `${text}\n`;
  }, line);

describe('the SDK in Chromium, from OpenUA’s /sdk/ bundles', { skip }, () => {
  let browser: Browser;
  let site: Awaited<ReturnType<typeof startSite>>;
  before(async () => {
    browser = await launchChromium();
    site = await startSite();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
  });

  /** A fresh browser profile (its own IndexedDB, cache and cookies) with a page of the site loading `script`. */
  async function openPage(script: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    const url = `${site.origin}/page.html?script=${encodeURIComponent(script)}`;
    await page.goto(url);
    return { page, context, errors, url };
  }

  describe('delivery through a server that goes down, and a reload', () => {
    const masterKey = newMasterKey();
    let dataDir: string;
    let spawned: ServerProcess | undefined;
    let relay: Relay;
    let token: string;
    before(async () => {
      dataDir = tempDir();
      spawned = await spawnServer(dataDir, masterKey);
      // The page's endpoint across the restart: the server comes back on a port of its own.
      relay = await startRelay(spawned.url);
      token = await createKey({ url: spawned.url, masterKey } as TestServer, ['analytics:write']);
    });
    after(async () => {
      spawned?.child.kill('SIGTERM');
      await spawned?.exited;
      await relay?.close();
      removeDir(dataDir);
    });

    it('every event logged before, while and after the server is down arrives exactly once', async () => {
      const eventType = `reload-${randomUUID().slice(0, 8)}`;
      const { page, context, errors, url } = await openPage(`${relay.url}/sdk/openua.js`);
      /** What the page does on each load: make its client, log. Not awaited: a page logs and goes on. */
      const load = (values: string[]) =>
        page.evaluate(
          ({ endpoint, token, eventType, values }) => {
            const { OpenUA } = window as unknown as { OpenUA: OpenUA };
            const client = OpenUA.createClient({ endpoint, token, flushIntervalMs: 50, retryMaxMs: 1_000 });
            (window as unknown as { client: Sdk.Client }).client = client;
            for (const eventValue of values) client.logCustomEvent({ eventType, eventValue, language: 'en' });
          },
          { endpoint: relay.url, token, eventType, values },
        );
      const stored = (count: number) => storedEvents({ url: relay.url, masterKey }, count, eventType);

      // Up: logged and delivered.
      await load(['up-1', 'up-2', 'up-3']);
      assert.equal((await stored(3)).length, 3);

      // Down: logged, kept in IndexedDB, retried in vain.
      spawned?.child.kill('SIGKILL');
      await spawned?.exited;
      spawned = undefined;
      relay.to(undefined);
      await page.evaluate(
        ({ eventType }) => {
          const { client } = window as unknown as { client: Sdk.Client };
          for (const eventValue of ['down-1', 'down-2', 'down-3'])
            client.logCustomEvent({ eventType, eventValue, language: 'en' });
        },
        { eventType },
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      // Reloaded while the server is still down: the bundle comes from the browser's cache (an hour's max-age).
      await page.reload();
      assert.equal(page.url(), url);
      await load(['reloaded-1', 'reloaded-2']);
      await new Promise((resolve) => setTimeout(resolve, 500));

      // Back, on the same data: the reloaded page delivers what the page before it queued, and its own.
      spawned = await spawnServer(dataDir, masterKey);
      relay.to(spawned.url);
      const expected = ['up-1', 'up-2', 'up-3', 'down-1', 'down-2', 'down-3', 'reloaded-1', 'reloaded-2'];
      await eventually(() => stored(0), expected.length);
      // Whatever was in flight or retried has had its chance to arrive twice.
      await page.evaluate(() => (window as unknown as { client: Sdk.Client }).client.flush());
      const events = await stored(expected.length);
      assert.deepEqual(events.map((event) => event.eventValue).sort(), [...expected].sort());
      assert.deepEqual(
        [...countByKey(events).values()].filter((count) => count !== 1),
        [],
        'each idempotency key once',
      );
      assert.equal(new Set(events.map((event) => event.clientId)).size, 1, 'one visitor across the reload');
      await show(page, `Delivered exactly once, through a restart and a reload: ${expected.join(', ')}`);
      await screenshot(page, 'sdk-reload.png');
      // The page's own errors: the requests to the server that was down fail, as they should, and say so.
      assert.deepEqual(
        errors.filter((error) => !/^Failed to load resource: net::ERR_/.test(error)),
        [],
      );
      await context.close();
    });
  });

  describe('against one server', () => {
    let server: TestServer;
    let token: string;
    before(async () => {
      server = await startServer();
      token = await createKey(server, ['analytics:write']);
    });
    after(async () => {
      await server?.close();
      if (server) removeDir(server.dataDir);
    });

    it('flushes its queue with a beacon on pagehide: events logged just before navigating away arrive', async () => {
      const eventType = `beacon-${randomUUID().slice(0, 8)}`;
      // custom.js: the budget bundle, createClient alone.
      const { page, context, errors } = await openPage(`${server.url}/sdk/custom.js`);
      // Playwright does not see a beacon sent as the page goes: the page notes each one (in its tab's
      // sessionStorage, which the next page of the site reads), and still sends it.
      await page.addScriptTag({ content: NOTE_BEACONS });
      await page.evaluate(
        async ({ endpoint, token, eventType }) => {
          const { OpenUA } = window as unknown as { OpenUA: OpenUA };
          // Nothing would be sent for a minute: only the flush on pagehide can send these.
          const client = OpenUA.createClient({ endpoint, token, flushIntervalMs: 60_000 });
          // The client first sends what an earlier page left (nothing here); then it waits.
          await client.flush();
          for (const eventValue of ['a', 'b', 'c'])
            client.logCustomEvent({ eventType, eventValue, language: 'en' });
        },
        { endpoint: server.url, token, eventType },
      );
      // A page with no SDK: nothing but the beacon can deliver them.
      await page.goto(`${site.origin}/away.html`);
      const stored = await eventually(() => storedEvents(server, 0, eventType), 3);
      assert.deepEqual(stored.map((event) => event.eventValue).sort(), ['a', 'b', 'c']);
      const beacons = await page.evaluate(() => JSON.parse(sessionStorage.getItem('beacons') ?? '[]'));
      assert.deepEqual(beacons, [
        { url: `${server.url}/api/v1/events/batch?access_token=${encodeURIComponent(token)}`, queued: true },
      ]);
      for (const event of stored) {
        assert.match(String(event.userAgent), /Chrome\//, 'filled in by the client');
        assert.equal(event.language, 'en');
      }
      assert.deepEqual(errors, []);
      await context.close();
    });

    it('provider code written for Microsoft.CIFramework runs unchanged on cif.js, readable through OData', async () => {
      const providerId = await createProvider(server);
      const ids = { ...newConversation(), correlationId: randomUUID() };
      const { page, context, errors } = await openPage(`${server.url}/sdk/cif.js`);
      // The host page's own framework object: the drop-in keeps what it does not replace.
      await page.addScriptTag({
        content: `window.Microsoft = { CIFramework: { getEnvironment() { return Promise.resolve('{"host":"desktop"}'); } } };`,
      });
      await page.evaluate(
        ({ endpoint, token, providerId }) =>
          (window as unknown as { OpenUA: OpenUA }).OpenUA.installCIFramework({
            endpoint,
            token,
            providerId,
          }),
        { endpoint: server.url, token, providerId },
      );
      await page.addScriptTag({ content: PROVIDER_WIDGET });
      const outcome = await page.evaluate(
        (ids) =>
          (
            window as unknown as {
              providerWidget(ids: object): Promise<{
                initialized: string;
                logged: string[];
                refused: { message: string; code?: string; violations?: { field: string; rule: string }[] };
                environment: string;
              }>;
            }
          ).providerWidget(ids),
        ids,
      );
      assert.equal(typeof outcome.initialized, 'string');
      assert.equal(outcome.logged.length, 3);
      assert.ok(
        outcome.logged.every((result) => typeof result === 'string' && !result.startsWith('error')),
        outcome.logged.join('\n'),
      );
      assert.equal(outcome.environment, '{"host":"desktop"}', 'the host’s own member is kept');
      // Never a false success: the refusal names the field and rule.
      assert.equal(outcome.refused.code, 'REJECTED', JSON.stringify(outcome.refused));
      assert.ok(
        outcome.refused.violations?.some((v) => v.field.includes('conversationId')),
        JSON.stringify(outcome.refused),
      );

      const byConversation = filter(`msdyn_conversationid eq '${ids.conversationId}'`);
      const [conversation] = await odataList(server, 'msdyn_conversationsdata', byConversation);
      assert.ok(conversation, 'the conversation is stored');
      assert.equal(conversation.msdyn_channel, 'chat');
      assert.equal(conversation.openua_correlationid, ids.correlationId);
      const sessions = await odataList(server, 'msdyn_sessionsdata', byConversation);
      assert.deepEqual(
        sessions.map((s) => s.msdyn_providersessionid),
        [ids.providerSessionId],
      );
      const participants = await odataList(server, 'msdyn_sessionparticipantsdata', byConversation);
      assert.deepEqual(
        participants.map((p) => [p.msdyn_participantid, p.msdyn_participantname]),
        [[ids.participantId, 'Alex']],
      );
      const events = await eventually(() => odataList(server, 'msdyn_kpieventsdata', byConversation), 3);
      assert.deepEqual(events.map((e) => e.msdyn_kpieventname).sort(), [
        'NotificationAccepted',
        'NotificationReceived',
        'SessionStarted',
      ]);
      assert.ok(
        events.every((e) => e.msdyn_providerid !== null && e.openua_correlationid === ids.correlationId),
      );
      await screenshot(page, 'sdk-cif.png');
      assert.deepEqual(errors, []);
      await context.close();
    });

    it('the desktop helper’s events are KPI events of their conversation, and count in the KPI catalogue', async () => {
      const providerId = await createProvider(server);
      const ids = newConversation();
      const from = new Date(Date.now() - 60_000).toISOString();
      const { page, context, errors } = await openPage(`${server.url}/sdk/openua.js`);
      const results = await page.evaluate(
        async ({ endpoint, token, providerId, ids }) => {
          const { OpenUA } = window as unknown as { OpenUA: OpenUA };
          const channel = OpenUA.createChannelClient({ endpoint, token, providerId });
          await channel.initLogAnalytics({
            conversation: {
              conversationId: ids.conversationId,
              channel: 'chat',
              session: {
                providerSessionId: ids.providerSessionId,
                participants: [{ participantId: ids.participantId, name: 'Alex', type: 'Agent' }],
              },
            },
          });
          // One line per moment.
          const desktop = OpenUA.createDesktop({ channel, ...ids });
          return [
            await desktop.notificationReceived(),
            await desktop.notificationAccepted(),
            await desktop.sessionStarted(),
            await desktop.knowledgeArticleViewed({
              knowledgeArticleId: 'kb-42',
              knowledgeArticleName: 'Resetting a password',
            }),
            await desktop.sessionClosed(),
          ];
        },
        { endpoint: server.url, token, providerId, ids },
      );
      assert.equal(results.length, 5);
      const byConversation = filter(`msdyn_conversationid eq '${ids.conversationId}'`);
      const events = await eventually(() => odataList(server, 'msdyn_kpieventsdata', byConversation), 5);
      assert.deepEqual(events.map((e) => e.msdyn_kpieventname).sort(), [
        'KnowledgeArticleViewed',
        'NotificationAccepted',
        'NotificationReceived',
        'SessionClosed',
        'SessionStarted',
      ]);
      assert.ok(events.every((e) => e.msdyn_providersessionid === ids.providerSessionId));
      assert.ok(events.every((e) => e.msdyn_participantid === ids.participantId));
      const article = events.find((e) => e.msdyn_kpieventname === 'KnowledgeArticleViewed');
      assert.equal(article?.openua_knowledgearticleid, 'kb-42');

      // The framework's names count as the events they stand for: one session, one notification accepted.
      const query = await call<{ rows: Record<string, unknown>[] }>(`${server.url}/api/v1/query`, {
        token: server.masterKey,
        body: {
          measures: ['sessions', 'notificationAcceptanceRate', 'averageHandleTime'],
          filters: [{ field: 'providerId', op: 'eq', value: providerId }],
          from,
          to: new Date(Date.now() + 60_000).toISOString(),
        },
      });
      assert.equal(query.status, 200, JSON.stringify(query.body));
      assert.equal(query.body.rows.length, 1, JSON.stringify(query.body));
      const [row] = query.body.rows;
      assert.equal(row?.sessions, 1, JSON.stringify(row));
      assert.equal(row?.notificationAcceptanceRate, 100, JSON.stringify(row));
      assert.equal(typeof row?.averageHandleTime, 'number', JSON.stringify(row));
      const moments = ['received', 'accepted', 'session started', 'article viewed', 'session closed'];
      for (const [i, result] of results.entries()) await show(page, `${moments[i]}: ${result}`);
      await show(page, `KPIs of the provider: ${JSON.stringify(row)}`);
      await screenshot(page, 'sdk-desktop.png');
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
});

/** The browser bundles' `window.OpenUA`, typed by the SDK's own exports. */
type OpenUA = Pick<
  typeof Sdk,
  'createClient' | 'createChannelClient' | 'installCIFramework' | 'createDesktop'
>;
