import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import {
  deadUrl,
  eventually,
  type Received,
  type Receiver,
  type ShownAlert,
  type ShownAttempt,
  type ShownRule,
  startReceiver,
  type WebhookBody,
} from '../helpers/alerts.ts';
import { LOG_PATH, startConversation } from '../helpers/channel.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  removeDir,
  serverForSuite,
  startServer,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * Breach rules end to end: a real server evaluating every second, a real receiver on loopback. The signature
 * is checked here with node:crypto alone, as a receiver would, from the secret shown at creation.
 */

/** The value, asserted present. */
function present<T>(value: T | null | undefined, what = 'a value'): T {
  assert.ok(value !== null && value !== undefined, `expected ${what}`);
  return value;
}

/** What a receiver computes: HMAC-SHA256 of "<timestamp>.<body>" with the secret. */
const expectedSignature = (secret: string, request: Received) =>
  `sha256=${createHmac('sha256', secret)
    .update(`${request.headers['x-openua-timestamp']}.${request.body}`)
    .digest('hex')}`;

const ENV = {
  OPENUA_ALERT_INTERVAL_SECONDS: '1',
  OPENUA_WEBHOOK_RETRY_BASE_MS: '50',
  OPENUA_WEBHOOK_MAX_ATTEMPTS: '4',
};

async function postEvents(server: TestServer, key: string, eventType: string, n: number) {
  for (let i = 0; i < n; i++) {
    const answer = await call(`${server.url}${CUSTOM_PATH}`, {
      token: key,
      body: validCustomEvent({ eventType }),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  }
}

/** A rule counting one event type over the last 10 minutes. */
const countRule = (eventType: string, webhookUrl: string, extra: Record<string, unknown> = {}) => ({
  name: `rule ${eventType}`,
  measure: 'count',
  filters: [{ field: 'eventType', op: 'eq', value: eventType }],
  comparison: 'ge',
  threshold: 3,
  windowMinutes: 10,
  webhookUrl,
  ...extra,
});

async function createRule(server: TestServer, body: unknown, token = server.masterKey) {
  const answer = await call<ShownRule & { webhookSecret: string }>(`${server.url}/api/v1/alert-rules`, {
    token,
    body,
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

async function alertsOf(server: TestServer, ruleId: string, token = server.masterKey): Promise<ShownAlert[]> {
  const answer = await call<{ alerts: ShownAlert[] }>(`${server.url}/api/v1/alerts?ruleId=${ruleId}`, {
    token,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.alerts;
}

/** Waits until the rule has been evaluated `n` more times after `since` (an ISO time), breaching or not. */
async function evaluationsAfter(server: TestServer, ruleId: string, since: string, n: number) {
  let seen = since;
  for (let i = 0; i < n; i++) {
    const before = seen;
    seen = await eventually(async () => {
      const rule = await call<ShownRule>(`${server.url}/api/v1/alert-rules/${ruleId}`, {
        token: server.masterKey,
      });
      const at = rule.body.lastEvaluation?.at as string | undefined;
      return at && at > before ? at : undefined;
    }, `an evaluation of ${ruleId} after ${before}`);
  }
}

describe('a breach rule fires a signed webhook', () => {
  let server: TestServer;
  let writeKey: string;
  let readKey: string;
  const receivers: Receiver[] = [];
  serverForSuite(
    async (started) => {
      server = started;
      writeKey = await createKey(server, ['analytics:write']);
      readKey = await createKey(server, ['analytics:read']);
    },
    { env: ENV },
  );
  after(async () => {
    for (const r of receivers) await r.close();
  });
  const receiver = async (respond?: (n: number) => number) => {
    const r = await startReceiver(respond);
    receivers.push(r);
    return r;
  };

  it('fires once, signed, with the alert in the body and its delivery recorded; resolves; fires again', async () => {
    const hook = await receiver();
    const eventType = `checkout_error_${randomUUID().slice(0, 8)}`;
    await postEvents(server, writeKey, eventType, 3);
    const rule = await createRule(server, countRule(eventType, hook.url));
    assert.match(rule.webhookSecret, /^whsec_[A-Za-z0-9_-]{43}$/);

    const [fired] = await eventually(
      () => (hook.requests.length > 0 ? hook.requests : undefined),
      'the webhook',
    );
    assert.ok(fired);
    assert.equal(fired.headers['content-type'], 'application/json');
    assert.equal(fired.headers['x-openua-event'], 'alert.fired');
    assert.equal(fired.headers['x-openua-attempt'], '1');
    assert.match(String(fired.headers['x-openua-timestamp']), /^\d{10}$/);
    assert.ok(
      Math.abs(Number(fired.headers['x-openua-timestamp']) - Date.now() / 1000) < 300,
      'the timestamp is the time of signing',
    );
    assert.equal(fired.headers['x-openua-signature'], expectedSignature(rule.webhookSecret, fired));
    assert.notEqual(
      fired.headers['x-openua-signature'],
      expectedSignature(`${rule.webhookSecret}x`, fired),
      'another secret gives another signature',
    );

    const body = JSON.parse(fired.body) as WebhookBody;
    assert.equal(body.type, 'alert.fired');
    assert.equal(body.id, fired.headers['x-openua-delivery']);
    assert.equal(body.organization, 'default');
    assert.equal(body.alert.ruleId, rule.id);
    assert.equal(body.alert.ruleName, rule.name);
    assert.equal(body.alert.status, 'firing');
    assert.equal(body.alert.value, 3);
    assert.equal(body.alert.threshold, 3);
    assert.equal(body.alert.comparison, 'ge');
    assert.equal(body.alert.measure, 'count');
    assert.deepEqual(body.alert.filters, rule.filters);
    assert.equal(Date.parse(body.alert.windowTo) - Date.parse(body.alert.windowFrom), 10 * 60_000);
    assert.equal(body.alert.anomaly, null);

    // The alert record, readable with analytics:read, carries the delivery.
    const delivered = await eventually(async () => {
      const [alert] = await alertsOf(server, rule.id, readKey);
      return alert?.delivery?.state === 'delivered' ? alert : undefined;
    }, 'the delivery recorded');
    assert.equal(delivered.id, body.alert.id);
    assert.equal(delivered.value, 3);
    const delivery = present(delivered.delivery);
    assert.equal(delivery.id, body.id);
    assert.equal(delivery.attempts, 1);
    assert.equal(delivery.lastStatus, 200);
    assert.equal(delivery.lastError, null);
    assert.ok(delivery.deliveredAt);
    assert.deepEqual(
      delivery.log.map((a: ShownAttempt) => [a.attempt, a.status]),
      [[1, 200]],
    );
    assert.equal(delivered.resolvedDelivery, null);
    const one = await call<ShownAlert>(`${server.url}/api/v1/alerts/${delivered.id}`, { token: readKey });
    assert.equal(one.status, 200);
    assert.equal(one.body.delivery?.state, 'delivered');

    // Still breaching: evaluated again and again, and no second alert, no second webhook.
    await evaluationsAfter(server, rule.id, delivered.firedAt, 2);
    assert.equal((await alertsOf(server, rule.id)).length, 1);
    assert.equal(hook.requests.length, 1);
    const evaluated = await call<ShownRule>(`${server.url}/api/v1/alert-rules/${rule.id}`, {
      token: readKey,
    });
    assert.equal(evaluated.body.lastEvaluation?.breaching, true);
    assert.equal(evaluated.body.lastEvaluation?.value, 3);

    // Back within bounds: the alert is resolved and a signed `alert.resolved` is sent.
    const patched = await call(`${server.url}/api/v1/alert-rules/${rule.id}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { threshold: 100 },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const resolved = await eventually(async () => {
      const [alert] = await alertsOf(server, rule.id);
      return alert?.status === 'resolved' && alert.resolvedDelivery?.state === 'delivered'
        ? alert
        : undefined;
    }, 'the resolution');
    assert.equal(resolved.resolvedReason, 'recovered');
    assert.equal(resolved.resolvedValue, 3);
    assert.ok(present(resolved.resolvedAt) >= resolved.firedAt);
    const second = hook.requests[1] as Received;
    assert.equal(hook.requests.length, 2);
    assert.equal(second.headers['x-openua-event'], 'alert.resolved');
    assert.equal(second.headers['x-openua-signature'], expectedSignature(rule.webhookSecret, second));
    assert.notEqual(second.headers['x-openua-delivery'], fired.headers['x-openua-delivery']);
    const resolvedBody = JSON.parse(second.body) as WebhookBody;
    assert.equal(resolvedBody.type, 'alert.resolved');
    assert.equal(resolvedBody.alert.id, body.alert.id);
    assert.equal(resolvedBody.alert.status, 'resolved');

    // Breaching again after recovery is a new breach: a new alert.
    await call(`${server.url}/api/v1/alert-rules/${rule.id}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { threshold: 3 },
    });
    const alerts = await eventually(async () => {
      const list = await alertsOf(server, rule.id);
      return list.length === 2 ? list : undefined;
    }, 'a second alert');
    assert.equal(alerts[0]?.status, 'firing', 'newest first');
    assert.notEqual(alerts[0]?.id, body.alert.id);
  });

  it('fires on a contact-center KPI, scoped by channel, with the same meaning as the query API', async () => {
    const hook = await receiver();
    const ids = await startConversation(server);
    // Queued two minutes ago, and abandoned 60 s later: not a short abandon.
    const logged = await call(`${server.url}${LOG_PATH}`, {
      token: server.masterKey,
      body: {
        data: {
          conversationId: ids.conversationId,
          events: [
            {
              kpiEventName: 'ConversationQueued',
              eventTimestamp: new Date(Date.now() - 120_000).toISOString(),
            },
            {
              kpiEventName: 'ConversationEnded',
              eventTimestamp: new Date(Date.now() - 60_000).toISOString(),
            },
          ],
        },
        eventName: 'ConversationQueued',
      },
    });
    assert.equal(logged.status, 200, JSON.stringify(logged.body));
    const measure = { kpi: 'abandonedConversations', excludeShortAbandons: true };
    const rule = await createRule(server, {
      name: `abandons ${ids.conversationId}`,
      measure,
      filters: [{ field: 'channel', op: 'eq', value: 'chat' }],
      comparison: 'ge',
      threshold: 1,
      windowMinutes: 10,
      webhookUrl: hook.url,
    });
    const [fired] = await eventually(
      () => (hook.requests.length > 0 ? hook.requests : undefined),
      'the KPI webhook',
    );
    const body = JSON.parse(present(fired).body) as WebhookBody;
    assert.equal(body.alert.ruleId, rule.id);
    assert.deepEqual(body.alert.measure, measure);
    assert.equal(body.alert.value, 1);
    assert.equal(
      present(fired).headers['x-openua-signature'],
      expectedSignature(rule.webhookSecret, present(fired)),
    );
  });

  it('retries a receiver that answers 503, with the same delivery id, until it takes the alert', async () => {
    const hook = await receiver((n) => (n <= 2 ? 503 : 200));
    const eventType = `retry_${randomUUID().slice(0, 8)}`;
    await postEvents(server, writeKey, eventType, 3);
    const rule = await createRule(server, countRule(eventType, hook.url));
    const alert = await eventually(async () => {
      const [a] = await alertsOf(server, rule.id);
      return a?.delivery?.state === 'delivered' ? a.delivery : undefined;
    }, 'the delivery after retries');
    assert.equal(alert.attempts, 3);
    assert.deepEqual(
      alert.log.map((a: ShownAttempt) => [a.attempt, a.status, a.error]),
      [
        [1, 503, 'HTTP 503'],
        [2, 503, 'HTTP 503'],
        [3, 200, null],
      ],
    );
    assert.equal(hook.requests.length, 3);
    const ids = new Set(hook.requests.map((r) => r.headers['x-openua-delivery']));
    assert.deepEqual([...ids], [alert.id], 'every retry carries the same delivery id');
    assert.deepEqual(
      hook.requests.map((r) => r.headers['x-openua-attempt']),
      ['1', '2', '3'],
    );
    for (const request of hook.requests) {
      assert.equal(request.body, hook.requests[0]?.body, 'the same body every time');
      assert.equal(request.headers['x-openua-signature'], expectedSignature(rule.webhookSecret, request));
    }
  });

  it('retries a receiver that refuses connections, records every attempt, and gives up after the last', async () => {
    const eventType = `down_${randomUUID().slice(0, 8)}`;
    await postEvents(server, writeKey, eventType, 3);
    const rule = await createRule(server, countRule(eventType, await deadUrl()));
    const delivery = await eventually(async () => {
      const [a] = await alertsOf(server, rule.id);
      return a?.delivery?.state === 'failed' ? a.delivery : undefined;
    }, 'the delivery to give up');
    assert.equal(delivery.attempts, 4, 'OPENUA_WEBHOOK_MAX_ATTEMPTS');
    assert.equal(delivery.log.length, 4);
    for (const attempt of delivery.log) {
      assert.equal(attempt.status, null);
      assert.match(String(attempt.error), /ECONNREFUSED/);
    }
    assert.match(String(delivery.lastError), /ECONNREFUSED/);
    assert.equal(delivery.deliveredAt, null);
    assert.equal(delivery.nextAttemptAt, null);
    // Attempts are spaced out: each after the one before.
    const times = delivery.log.map((a) => Date.parse(a.at));
    for (let i = 1; i < times.length; i++) assert.ok((times[i] as number) >= (times[i - 1] as number));
  });

  it('does not retry a receiver that refuses the alert with a 4xx', async () => {
    const hook = await receiver(() => 400);
    const eventType = `refused_${randomUUID().slice(0, 8)}`;
    await postEvents(server, writeKey, eventType, 3);
    const rule = await createRule(server, countRule(eventType, hook.url));
    const alert = await eventually(async () => {
      const [a] = await alertsOf(server, rule.id);
      return a?.delivery?.state === 'failed' ? a : undefined;
    }, 'the delivery to fail');
    assert.equal(alert.delivery?.attempts, 1);
    assert.equal(alert.delivery?.lastStatus, 400);
    assert.equal(alert.delivery?.lastError, 'HTTP 400');
    await evaluationsAfter(server, rule.id, alert.firedAt, 2);
    assert.equal(hook.requests.length, 1);
  });

  it('an anomaly rule fires on a spike far outside the recent windows, with mean, spread and z', async () => {
    const hook = await receiver();
    const eventType = `spike_${randomUUID().slice(0, 8)}`;
    // 24 one-minute windows of 4, 5 or 6 events each, then 40 in the current minute.
    const now = Date.now();
    const historyEnd = Math.floor((now - 60_000) / 60_000) * 60_000;
    const events = [];
    for (let w = 0; w < 24; w++) {
      const middle = historyEnd - w * 60_000 - 30_000;
      for (let i = 0; i < 4 + (w % 3); i++) {
        events.push({
          kind: 'custom',
          ...validCustomEvent({ eventType }),
          eventTime: new Date(middle + i).toISOString(),
        });
      }
    }
    const batch = await call<{ results: { status: string }[] }>(`${server.url}/api/v1/events/batch`, {
      token: writeKey,
      body: { events },
    });
    assert.equal(batch.status, 200);
    assert.ok(
      batch.body.results.every((r) => r.status === 'accepted'),
      JSON.stringify(batch.body),
    );
    await postEvents(server, writeKey, eventType, 40);

    const rule = await createRule(server, {
      name: `anomaly ${eventType}`,
      measure: 'count',
      filters: [{ field: 'eventType', op: 'eq', value: eventType }],
      comparison: 'anomaly',
      windowMinutes: 1,
      webhookUrl: hook.url,
    });
    assert.equal(rule.deviations, 3, 'k defaults to 3');
    assert.equal(rule.threshold, null);
    const [request] = await eventually(
      () => (hook.requests.length > 0 ? hook.requests : undefined),
      'the anomaly',
    );
    const body = JSON.parse((request as Received).body) as WebhookBody;
    const { alert } = body;
    assert.equal(alert.comparison, 'anomaly');
    assert.equal(alert.threshold, null);
    const anomaly = present(alert.anomaly, 'the anomaly detail');
    assert.equal(anomaly.kind, 'spike');
    assert.ok(alert.value >= 40, `value ${alert.value}`);
    assert.ok(anomaly.mean > 4 && anomaly.mean < 6, `mean ${anomaly.mean}`);
    assert.ok(anomaly.historyWindows >= 23, 'a minute boundary may pass during the test');
    assert.ok(anomaly.z > 3);
    assert.ok(Math.abs((alert.value - anomaly.mean) / anomaly.spread - anomaly.z) < 1e-9);
    assert.ok(alert.value > anomaly.upper);
  });

  it('an anomaly rule without enough history gives no verdict and fires nothing', async () => {
    const hook = await receiver();
    const eventType = `fresh_${randomUUID().slice(0, 8)}`;
    await postEvents(server, writeKey, eventType, 30);
    const rule = await createRule(server, {
      name: `fresh ${eventType}`,
      measure: 'count',
      filters: [{ field: 'eventType', op: 'eq', value: eventType }],
      comparison: 'anomaly',
      deviations: 2,
      windowMinutes: 1,
      webhookUrl: hook.url,
    });
    const evaluation = await eventually(async () => {
      const answer = await call<ShownRule>(`${server.url}/api/v1/alert-rules/${rule.id}`, { token: readKey });
      return answer.body.lastEvaluation ?? undefined;
    }, 'an evaluation');
    assert.equal(evaluation.breaching, null);
    assert.equal(evaluation.anomaly?.kind, 'insufficientHistory');
    assert.equal(evaluation.error, null);
    assert.equal((await alertsOf(server, rule.id)).length, 0);
    assert.equal(hook.requests.length, 0);
  });
});

describe('a pending webhook survives a restart', () => {
  const dataDir = tempDir('openua-alerts-restart-');
  let receiver: Receiver | undefined;
  let server: TestServer | undefined;
  after(async () => {
    await server?.close();
    await receiver?.close();
    removeDir(dataDir);
  });

  it('is resumed at the next start and delivered with the same id', async () => {
    let up = false;
    receiver = await startReceiver(() => (up ? 200 : 503));
    const first = await startServer({
      dataDir,
      env: { ...ENV, OPENUA_WEBHOOK_RETRY_BASE_MS: '1000', OPENUA_WEBHOOK_MAX_ATTEMPTS: '20' },
    });
    server = first;
    const writeKey = await createKey(first, ['analytics:write']);
    const eventType = `restart_${randomUUID().slice(0, 8)}`;
    await postEvents(first, writeKey, eventType, 3);
    const rule = await createRule(first, countRule(eventType, receiver.url));
    const pending = await eventually(async () => {
      const [a] = await alertsOf(first, rule.id);
      return a?.delivery && a.delivery.attempts >= 1 && a.delivery.state === 'pending' ? a : undefined;
    }, 'a failed first attempt');
    await first.close();
    server = undefined;

    up = true;
    // Evaluation off: only the resumed delivery can reach the receiver.
    const second = await startServer({
      dataDir,
      masterKey: first.masterKey,
      env: { ...ENV, OPENUA_ALERT_INTERVAL_SECONDS: '0' },
    });
    server = second;
    const delivered = await eventually(async () => {
      const [a] = await alertsOf(second, rule.id);
      return a?.delivery?.state === 'delivered' ? a : undefined;
    }, 'the resumed delivery');
    assert.equal(delivered.id, pending.id);
    const before = present(pending.delivery);
    const now = present(delivered.delivery);
    assert.equal(now.id, before.id);
    assert.ok(now.attempts > before.attempts);
    const last = receiver.requests.at(-1) as Received;
    assert.equal(last.headers['x-openua-delivery'], before.id);
    assert.equal(last.headers['x-openua-signature'], expectedSignature(rule.webhookSecret, last));
    assert.deepEqual(
      new Set(receiver.requests.map((r) => r.headers['x-openua-delivery'])),
      new Set([before.id]),
    );
    assert.equal((await alertsOf(second, rule.id)).length, 1);
  });
});
