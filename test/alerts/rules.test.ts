import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { eventually, type ShownAlert, type ShownRule } from '../helpers/alerts.ts';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  createKey,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/** `/api/v1/alert-rules` and `/api/v1/alerts`: every field's rule, privileges, and organizations kept apart. */

type Fields = Record<string, unknown>;
type Rule = ShownRule & { webhookSecret: string };

let server: TestServer;
let adminKey: string;
let readKey: string;
let writeKey: string;
let otherAdminKey: string;
let otherReadKey: string;
serverForSuite(
  async (started) => {
    server = started;
    adminKey = await createKey(server, ['admin', 'analytics:read']);
    readKey = await createKey(server, ['analytics:read']);
    writeKey = await createKey(server, ['analytics:write']);
    const org = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'rival' } });
    assert.equal(org.status, 201);
    otherAdminKey = await createKey(server, ['admin', 'analytics:read'], 'rival');
    otherReadKey = await createKey(server, ['analytics:read'], 'rival');
  },
  { env: { OPENUA_ALERT_INTERVAL_SECONDS: '1' } },
);

const RULES = '/api/v1/alert-rules';
const valid = (extra: Fields = {}) => ({
  name: `rule ${randomUUID().slice(0, 8)}`,
  measure: 'count',
  filters: [{ field: 'eventType', op: 'eq', value: 'checkout' }],
  comparison: 'gt',
  threshold: 10,
  windowMinutes: 5,
  webhookUrl: 'https://hooks.example.com/services/T000/B000/secret-token',
  ...extra,
});
const create = (body: unknown, token = adminKey) => call<Rule>(`${server.url}${RULES}`, { token, body });
const patch = (id: string, body: unknown, token = adminKey) =>
  call<Rule>(`${server.url}${RULES}/${id}`, { method: 'PATCH', token, body });

/** The violation for `field`, asserting it names the rule and echoes what was received. */
function violation(answer: Answer<unknown>, field: string, rule: string, ...received: [unknown?]) {
  const found = violationsOf(answer).find((v) => v.field === field && v.rule === rule);
  assert.ok(found, `expected ${field}/${rule} in ${JSON.stringify(answer.body)}`);
  if (received.length > 0) assert.deepEqual(found.received, received[0]);
  return found;
}

describe('creating a rule', () => {
  it('answers 201 with the rule and its webhook secret, which is never shown again', async () => {
    const answer = await create(valid({ name: 'Checkout spike' }));
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    const rule = answer.body;
    assert.match(rule.id, /^[0-9a-f-]{36}$/);
    assert.equal(rule.name, 'Checkout spike');
    assert.equal(rule.measure, 'count');
    assert.equal(rule.comparison, 'gt');
    assert.equal(rule.threshold, 10);
    assert.equal(rule.deviations, null);
    assert.equal(rule.windowMinutes, 5);
    assert.equal(rule.enabled, true);
    assert.match(rule.webhookSecret, /^whsec_/);
    assert.ok(!('org' in rule));

    for (const path of [`${RULES}/${rule.id}`, `${RULES}/Checkout%20spike`]) {
      const got = await call<ShownRule>(`${server.url}${path}`, { token: adminKey });
      assert.equal(got.status, 200);
      assert.equal(got.body.id, rule.id);
      assert.ok(!('webhookSecret' in got.body), 'the secret is answered once');
      assert.equal(got.body.webhookUrl, rule.webhookUrl, 'an admin sees the whole URL');
    }
    const listed = await call<{ rules: ShownRule[] }>(`${server.url}${RULES}`, { token: readKey });
    const mine = listed.body.rules.find((r) => r.id === rule.id);
    assert.ok(mine);
    assert.ok(!('webhookSecret' in mine));
    assert.equal(mine.webhookUrl, 'https://hooks.example.com/…', 'a reader sees only the origin');
  });

  it('takes any query measure: a distinct count, or {fn, field}', async () => {
    for (const measure of ['distinctUsers', { fn: 'uniq', field: 'clientId' }]) {
      const answer = await create(valid({ measure }));
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      assert.deepEqual(answer.body.measure, measure);
    }
  });

  it('refuses a second rule with the same name (409)', async () => {
    const body = valid();
    assert.equal((await create(body)).status, 201);
    errorOf(await create(body), 409, 'CONFLICT');
  });

  it('names every invalid field, its rule and the value received', async () => {
    violation(await create({ ...valid(), name: '' }), 'name', 'minLength', '');
    violation(await create({ ...valid(), name: 'x'.repeat(129) }), 'name', 'maxLength');
    violation(await create({ ...valid(), name: undefined }), 'name', 'required');
    violation(await create({ ...valid(), measure: undefined }), 'measure', 'required');
    violation(await create(valid({ measure: 'sales' })), 'measure', 'measure', 'sales');
    violation(
      await create(valid({ measure: { fn: 'median', field: 'clientId' } })),
      'measure.fn',
      'enum',
      'median',
    );
    violation(
      await create(valid({ measure: { fn: 'avg', field: 'customData.nope' } })),
      'measure.field',
      'numeric',
      'customData.nope',
    );
    violation(
      await create(valid({ filters: 'eventType=checkout' })),
      'filters',
      'type',
      'eventType=checkout',
    );
    violation(
      await create(valid({ filters: [{ field: 'eventType', op: 'like', value: 'x' }] })),
      'filters[0].op',
      'enum',
      'like',
    );
    violation(
      await create(valid({ filters: [{ field: 'nosuchfield', op: 'eq', value: 'x' }] })),
      'filters[0].field',
      'field',
      'nosuchfield',
    );
    violation(await create(valid({ comparison: 'above' })), 'comparison', 'enum', 'above');
    violation(await create(valid({ threshold: undefined })), 'threshold', 'required');
    violation(await create(valid({ threshold: '10' })), 'threshold', 'type', '10');
    violation(await create(valid({ deviations: 3 })), 'deviations', 'anomalyOnly', 3);
    violation(await create(valid({ windowMinutes: 0 })), 'windowMinutes', 'minimum', 0);
    violation(await create(valid({ windowMinutes: 10_081 })), 'windowMinutes', 'maximum', 10_081);
    violation(await create(valid({ windowMinutes: 1.5 })), 'windowMinutes', 'type', 1.5);
    violation(
      await create(valid({ webhookUrl: 'ftp://example.com/x' })),
      'webhookUrl',
      'url',
      'ftp://example.com/x',
    );
    violation(await create(valid({ webhookUrl: 'not a url' })), 'webhookUrl', 'url', 'not a url');
    violation(
      await create(valid({ webhookUrl: 'https://user:pw@example.com/' })),
      'webhookUrl',
      'url',
      'https://user:pw@example.com/',
    );
    violation(await create(valid({ enabled: 'yes' })), 'enabled', 'type', 'yes');
    violation(await create(valid({ severity: 'high' })), 'severity', 'unknownField', 'high');
  });

  it('checks what an anomaly rule needs: a volume measure, no threshold, a window it can read', async () => {
    const anomaly = (extra: Fields) => valid({ comparison: 'anomaly', threshold: undefined, ...extra });
    violation(await create(anomaly({ threshold: 5 })), 'threshold', 'notForAnomaly', 5);
    violation(
      await create(anomaly({ measure: { fn: 'uniq', field: 'clientId' } })),
      'measure',
      'volumeMeasure',
      { fn: 'uniq', field: 'clientId' },
    );
    violation(
      await create(anomaly({ measure: 'distinctUsers', windowMinutes: 15 })),
      'windowMinutes',
      'anomalyWindow',
      15,
    );
    violation(await create(anomaly({ windowMinutes: 1441 })), 'windowMinutes', 'anomalyWindow', 1441);
    violation(await create(anomaly({ deviations: 0.5 })), 'deviations', 'minimum', 0.5);
    const ok = await create(anomaly({ measure: 'distinctUsers', windowMinutes: 60, deviations: 4 }));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.deviations, 4);
    assert.equal(ok.body.threshold, null);
  });

  it('lists every violation of one body at once', async () => {
    const answer = await create({
      name: '',
      measure: 'sales',
      comparison: 'gt',
      windowMinutes: 0,
      webhookUrl: 'x',
    });
    const fields = violationsOf(answer).map((v) => `${v.field}/${v.rule}`);
    for (const expected of [
      'name/minLength',
      'measure/measure',
      'threshold/required',
      'windowMinutes/minimum',
      'webhookUrl/url',
    ]) {
      assert.ok(fields.includes(expected), `${expected} in ${fields.join(', ')}`);
    }
  });
});

describe('changing a rule', () => {
  it('PATCH changes the fields given and checks the rule that results', async () => {
    const { body: rule } = await create(valid());
    const answer = await patch(rule.id, { threshold: 20, windowMinutes: 15, enabled: false });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.threshold, 20);
    assert.equal(answer.body.windowMinutes, 15);
    assert.equal(answer.body.enabled, false);
    assert.equal(answer.body.measure, 'count', 'what is not sent is kept');
    assert.ok(!('webhookSecret' in answer.body));
    violation(await patch(rule.id, { threshold: null }), 'threshold', 'required', null);
    violation(await patch(rule.id, { measure: 'sales' }), 'measure', 'measure', 'sales');
    violation(await patch(rule.id, { secret: 'x' }), 'secret', 'unknownField', 'x');
  });

  it('switching to anomaly drops the threshold and takes k = 3; switching back needs a threshold', async () => {
    const { body: rule } = await create(valid());
    const anomaly = await patch(rule.id, { comparison: 'anomaly' });
    assert.equal(anomaly.status, 200, JSON.stringify(anomaly.body));
    assert.equal(anomaly.body.threshold, null);
    assert.equal(anomaly.body.deviations, 3);
    violation(await patch(rule.id, { comparison: 'lt' }), 'threshold', 'required', null);
    const back = await patch(rule.id, { comparison: 'lt', threshold: 1 });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.deviations, null);
  });

  it('rotateSecret answers a new secret, once', async () => {
    const { body: rule } = await create(valid());
    const rotated = await patch(rule.id, { rotateSecret: true });
    assert.equal(rotated.status, 200);
    assert.match(rotated.body.webhookSecret, /^whsec_/);
    assert.notEqual(rotated.body.webhookSecret, rule.webhookSecret);
  });

  it('DELETE removes the rule (404 afterwards)', async () => {
    const { body: rule } = await create(valid());
    const deleted = await call(`${server.url}${RULES}/${rule.id}`, { method: 'DELETE', token: adminKey });
    assert.equal(deleted.status, 204);
    errorOf(await call(`${server.url}${RULES}/${rule.id}`, { token: adminKey }), 404, 'NOT_FOUND');
    errorOf(
      await call(`${server.url}${RULES}/${rule.id}`, { method: 'DELETE', token: adminKey }),
      404,
      'NOT_FOUND',
    );
  });
});

describe('privileges and organizations', () => {
  it('a read key reads rules and alerts but cannot create, change or delete a rule', async () => {
    const { body: rule } = await create(valid());
    errorOf(await create(valid(), readKey), 403, 'FORBIDDEN');
    errorOf(await patch(rule.id, { threshold: 1 }, readKey), 403, 'FORBIDDEN');
    errorOf(
      await call(`${server.url}${RULES}/${rule.id}`, { method: 'DELETE', token: readKey }),
      403,
      'FORBIDDEN',
    );
    assert.equal((await call(`${server.url}${RULES}/${rule.id}`, { token: readKey })).status, 200);
    assert.equal((await call(`${server.url}/api/v1/alerts`, { token: readKey })).status, 200);
  });

  it('a write key reads neither rules nor alerts; no credential is a 401', async () => {
    errorOf(await call(`${server.url}${RULES}`, { token: writeKey }), 403, 'FORBIDDEN');
    errorOf(await call(`${server.url}/api/v1/alerts`, { token: writeKey }), 403, 'FORBIDDEN');
    errorOf(await call(`${server.url}${RULES}`), 401, 'UNAUTHENTICATED');
  });

  it("another organization's keys neither see nor change this organization's rules and alerts", async () => {
    const eventType = `isolated_${randomUUID().slice(0, 8)}`;
    const posted = await call(`${server.url}${CUSTOM_PATH}`, {
      token: writeKey,
      body: validCustomEvent({ eventType }),
    });
    assert.equal(posted.status, 200);
    const { body: rule } = await create(
      valid({
        filters: [{ field: 'eventType', op: 'eq', value: eventType }],
        comparison: 'ge',
        threshold: 1,
      }),
    );
    // The rule fires in its own organization (its webhook goes nowhere; the alert is what matters here).
    const alert = await eventually(async () => {
      const answer = await call<{ alerts: ShownAlert[] }>(`${server.url}/api/v1/alerts?ruleId=${rule.id}`, {
        token: readKey,
      });
      return answer.body.alerts[0];
    }, 'the alert');

    for (const token of [otherAdminKey, otherReadKey]) {
      const listed = await call<{ rules: ShownRule[] }>(`${server.url}${RULES}`, { token });
      assert.equal(listed.status, 200);
      assert.ok(!listed.body.rules.some((r) => r.id === rule.id));
      errorOf(await call(`${server.url}${RULES}/${rule.id}`, { token }), 404, 'NOT_FOUND');
      errorOf(
        await call(`${server.url}${RULES}/${encodeURIComponent(rule.name)}`, { token }),
        404,
        'NOT_FOUND',
      );
      const alerts = await call<{ alerts: ShownAlert[]; count: number }>(`${server.url}/api/v1/alerts`, {
        token,
      });
      assert.equal(alerts.status, 200);
      assert.ok(!alerts.body.alerts.some((a) => a.id === alert.id));
      errorOf(await call(`${server.url}/api/v1/alerts/${alert.id}`, { token }), 404, 'NOT_FOUND');
    }
    errorOf(await patch(rule.id, { threshold: 1000 }, otherAdminKey), 404, 'NOT_FOUND');
    errorOf(
      await call(`${server.url}${RULES}/${rule.id}`, { method: 'DELETE', token: otherAdminKey }),
      404,
      'NOT_FOUND',
    );
    // ?org= naming this organization is refused, not obeyed.
    errorOf(await call(`${server.url}${RULES}?org=default`, { token: otherAdminKey }), 403, 'FORBIDDEN');
    // The rule is untouched.
    const still = await call<ShownRule>(`${server.url}${RULES}/${rule.id}`, { token: adminKey });
    assert.equal(still.body.threshold, 1);

    // A rule of the other organization with the same scope does not count this organization's events.
    const rival = await create(
      valid({
        filters: [{ field: 'eventType', op: 'eq', value: eventType }],
        comparison: 'ge',
        threshold: 1,
      }),
      otherAdminKey,
    );
    assert.equal(rival.status, 201);
    const evaluation = await eventually(async () => {
      const answer = await call<ShownRule>(`${server.url}${RULES}/${rival.body.id}`, { token: otherReadKey });
      return answer.body.lastEvaluation ?? undefined;
    }, 'the rival rule evaluated');
    assert.equal(evaluation.value, 0);
    assert.equal(evaluation.breaching, false);
  });
});

describe('alerts and rule life', () => {
  it('GET /api/v1/alerts checks its filters', async () => {
    violation(
      await call(`${server.url}/api/v1/alerts?status=open`, { token: readKey }),
      'status',
      'enum',
      'open',
    );
    violation(await call(`${server.url}/api/v1/alerts?limit=0`, { token: readKey }), 'limit', 'pattern', '0');
    violation(
      await call(`${server.url}/api/v1/alerts?color=red`, { token: readKey }),
      'color',
      'unknownField',
      'red',
    );
  });

  it('disabling a firing rule resolves its alert (ruleDisabled); deleting one resolves it (ruleDeleted)', async () => {
    for (const how of ['disable', 'delete'] as const) {
      const eventType = `life_${how}_${randomUUID().slice(0, 8)}`;
      await call(`${server.url}${CUSTOM_PATH}`, { token: writeKey, body: validCustomEvent({ eventType }) });
      const { body: rule } = await create(
        valid({
          filters: [{ field: 'eventType', op: 'eq', value: eventType }],
          comparison: 'ge',
          threshold: 1,
        }),
      );
      const alertsOf = async () =>
        (
          await call<{ alerts: ShownAlert[] }>(`${server.url}/api/v1/alerts?ruleId=${rule.id}`, {
            token: readKey,
          })
        ).body.alerts;
      await eventually(async () => (await alertsOf())[0], 'the alert');
      if (how === 'disable') assert.equal((await patch(rule.id, { enabled: false })).status, 200);
      else
        assert.equal(
          (await call(`${server.url}${RULES}/${rule.id}`, { method: 'DELETE', token: adminKey })).status,
          204,
        );
      const [alert] = await alertsOf();
      assert.equal(alert?.status, 'resolved');
      assert.equal(alert?.resolvedReason, how === 'disable' ? 'ruleDisabled' : 'ruleDeleted');
    }
  });

  it('an evaluation that fails is logged and shown on the rule; the server keeps evaluating', async () => {
    const dimension = await call(`${server.url}/api/v1/dimensions`, {
      token: adminKey,
      body: { name: 'wait_seconds', type: 'number' },
    });
    assert.equal(dimension.status, 201);
    const { body: rule } = await create(
      valid({ measure: { fn: 'avg', field: 'customData.wait_seconds' }, comparison: 'gt', threshold: 60 }),
    );
    await eventually(async () => {
      const answer = await call<ShownRule>(`${server.url}${RULES}/${rule.id}`, { token: readKey });
      return answer.body.lastEvaluation?.error === null ? true : undefined;
    }, 'a good evaluation');
    // Without its number dimension, avg has nothing numeric to average: the rule cannot be evaluated.
    assert.equal(
      (await call(`${server.url}/api/v1/dimensions/wait_seconds`, { method: 'DELETE', token: adminKey }))
        .status,
      204,
    );
    const failed = await eventually(async () => {
      const answer = await call<ShownRule>(`${server.url}${RULES}/${rule.id}`, { token: readKey });
      return answer.body.lastEvaluation?.error ? answer.body.lastEvaluation : undefined;
    }, 'a failed evaluation');
    assert.match(String(failed.error), /numeric|number/);
    assert.equal(failed.breaching, null);
    // Other rules are still evaluated, and the server answers.
    const { body: other } = await create(valid());
    await eventually(async () => {
      const answer = await call<ShownRule>(`${server.url}${RULES}/${other.id}`, { token: readKey });
      return answer.body.lastEvaluation?.error === null ? true : undefined;
    }, 'another rule evaluated');
  });
});
