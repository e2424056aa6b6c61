import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkipReason, launchChromium } from '../helpers/browser.ts';
import { createProvider, INIT_PATH, initBody, logEvents, unique } from '../helpers/channel.ts';
import { openDashboard, pageUrl, settled, startDemoServer } from '../helpers/dashboard.ts';
import { call, createKey, removeDir, type TestServer } from '../helpers/server.ts';

/**
 * The Supervisor page is live: a conversation that starts while it is open shows within 5 s, and a KPI breach
 * shows once the server's alert evaluation (every second here) fires it.
 */

const skip = browserSkipReason();

describe('the Supervisor page, live', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let key: string;
  let hooks: Server;
  let hooksUrl: string;

  before(async () => {
    server = await startDemoServer({ OPENUA_ALERT_INTERVAL_SECONDS: '1' });
    browser = await launchChromium();
    key = await createKey(server, ['analytics:read']);
    // The rule's webhook lands here and is accepted, so deliveries do not retry through the test.
    hooks = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks`;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await new Promise((resolve) => hooks?.close(resolve));
    if (server) removeDir(server.dataDir);
  });

  it('a conversation started during the test appears within 5 s', async () => {
    const { context, page, trouble } = await openDashboard(browser, server, { credential: key });
    try {
      await page.goto(pageUrl(server, 'supervisor'));
      await settled(page);
      // A conversation as a desktop starts one: initLogAnalytics, then its KPI events through logAnalyticsEvent.
      // The page lists it by the first 8 characters of its id, unique here.
      const started = {
        conversationId: randomUUID(),
        providerSessionId: randomUUID(),
        participantId: 'agent-live',
      };
      const init = await call(`${server.url}${INIT_PATH}`, {
        token: server.masterKey,
        body: initBody(await createProvider(server), started),
      });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const posted = Date.now();
      for (const kpiEventName of ['ConversationQueued', 'SessionStarted']) {
        const logged = await logEvents(server, started, [{ kpiEventName }], { eventName: kpiEventName });
        assert.equal(logged.status, 200, JSON.stringify(logged.body));
      }
      // Listed with its agent: the session started too.
      const row = page
        .getByTestId('open-conversations')
        .locator('tr')
        .filter({ hasText: started.conversationId.slice(0, 8) })
        .filter({ hasText: 'agent-live' });
      await row.waitFor({ timeout: 5_000 - (Date.now() - posted) });
      assert.ok(Date.now() - posted <= 5_000);
      // Its trace, one click away: every event of the conversation, as GET /api/v1/correlations answers it.
      await row.getByTestId('open-trace').click();
      const trace = page.getByTestId('trace');
      await trace.getByText('SessionStarted').first().waitFor({ timeout: 5_000 });
      assert.match((await trace.textContent()) ?? '', /ConversationQueued/);
      assert.match(page.url(), new RegExp(`trace=${started.conversationId}`));
      assert.deepEqual(trouble.errors, []);
    } finally {
      await context.close();
    }
  });

  it('a breach fires and appears', async () => {
    const { context, page, trouble } = await openDashboard(browser, server, { credential: key });
    try {
      await page.goto(pageUrl(server, 'supervisor'));
      await settled(page);
      const name = unique('queue flood');
      // The demo queues a conversation every few minutes: more than none in an hour breaches at once.
      const rule = await call(`${server.url}/api/v1/alert-rules`, {
        token: server.masterKey,
        body: {
          name,
          measure: 'count',
          filters: [{ field: 'eventType', op: 'eq', value: 'ConversationQueued' }],
          comparison: 'gt',
          threshold: 0,
          windowMinutes: 60,
          webhookUrl: hooksUrl,
        },
      });
      assert.equal(rule.status, 201, JSON.stringify(rule.body));
      // One evaluation (1 s) and one refresh of the page (≤ 5 s).
      await page.getByText(name).first().waitFor({ timeout: 8_000 });
      const alerts = await call<{ alerts: { ruleName: string; status: string }[] }>(
        `${server.url}/api/v1/alerts?status=firing`,
        { token: key },
      );
      assert.ok(alerts.body.alerts.some((alert) => alert.ruleName === name));
      assert.deepEqual(trouble.errors, []);
    } finally {
      await context.close();
    }
  });
});
