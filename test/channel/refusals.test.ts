import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createProvider,
  filter,
  INIT_PATH,
  initBody,
  LOG_PATH,
  logEvents,
  ODATA,
  odataErrorOf,
  odataList,
  startConversation,
  unique,
} from '../helpers/channel.ts';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import { call, readEvents, serverForSuite, type TestServer } from '../helpers/server.ts';

/** Each refusal has its own clear error, and leaves nothing stored. */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const ids = () => ({
  conversationId: unique('conversation'),
  providerSessionId: unique('session'),
  participantId: unique('agent'),
});

const conversationsNamed = (conversationId: string) =>
  odataList(server, 'msdyn_conversationsdata', filter(`msdyn_conversationid eq '${conversationId}'`));

const eventsOf = async (conversationId: string) =>
  (await readEvents(server)).filter((e) => e.conversationId === conversationId);

describe('a provider with analytics switched off', () => {
  it('refuses initLogAnalytics, says how to switch it on, and stores nothing', async () => {
    const providerId = await createProvider(server, { enableAnalytics: false });
    const conversation = ids();
    const answer = await call(`${server.url}${INIT_PATH}`, {
      token: server.masterKey,
      body: initBody(providerId, conversation),
    });
    const error = errorOf(answer, 403, 'ANALYTICS_DISABLED');
    assert.match(error.message, /analytics switched off/);
    assert.match(error.message, /openua provider update .* --enable-analytics/);
    assert.match(error.message, /"enableAnalytics":true/);
    assert.deepEqual(
      error.violations?.map((v) => [v.field, v.rule, v.received]),
      [['data.conversation.providerId', 'analyticsEnabled', false]],
    );
    assert.deepEqual(await conversationsNamed(conversation.conversationId), []);
    const sessions = await odataList(
      server,
      'msdyn_sessionsdata',
      filter(`msdyn_providersessionid eq '${conversation.providerSessionId}'`),
    );
    assert.deepEqual(sessions, []);
  });

  it('refuses logAnalyticsEvent once the switch is turned off, and OData creates too', async () => {
    const started = await startConversation(server);
    const off = await call(`${server.url}/api/v1/providers/${started.providerId}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { enableAnalytics: false },
    });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const logged = await logEvents(server, started, [{ kpiEventName: 'SessionStarted' }]);
    errorOf(logged, 403, 'ANALYTICS_DISABLED');
    assert.deepEqual(await eventsOf(started.conversationId), []);

    const odata = await call(`${server.url}${ODATA}/msdyn_kpieventsdata`, {
      token: server.masterKey,
      body: {
        msdyn_conversationid: started.conversationId,
        msdyn_providersessionid: started.providerSessionId,
        msdyn_participantid: started.participantId,
        msdyn_kpieventname: 'SessionStarted',
      },
    });
    odataErrorOf(odata, 403, 'ANALYTICS_DISABLED');
    assert.deepEqual(await eventsOf(started.conversationId), []);

    // Switched back on, the same call goes through.
    await call(`${server.url}/api/v1/providers/${started.providerId}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { enableAnalytics: true },
    });
    assert.equal((await logEvents(server, started, [{ kpiEventName: 'SessionStarted' }])).status, 200);
    assert.equal((await eventsOf(started.conversationId)).length, 1);
  });

  it('an inactive provider is refused like a switched-off one', async () => {
    const started = await startConversation(server);
    await call(`${server.url}/api/v1/providers/${started.providerId}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { stateCode: 1 },
    });
    const error = errorOf(await logEvents(server, started, [{}]), 403, 'ANALYTICS_DISABLED');
    assert.match(error.message, /is inactive/);
  });
});

describe('an unknown KPI event name', () => {
  it('is refused, naming it, and nothing of the call is stored', async () => {
    const started = await startConversation(server);
    const answer = await logEvents(server, started, [
      { kpiEventName: 'SessionStarted' },
      { kpiEventName: 'CoffeeBreak' },
    ]);
    const violations = violationsOf(answer);
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule, v.received]),
      [['data.events[1].kpiEventName', 'kpiEventDefinition', 'CoffeeBreak']],
    );
    assert.match(violations[0]?.message ?? '', /no KPI event definition is named "CoffeeBreak"/);
    assert.deepEqual(await eventsOf(started.conversationId), [], 'the valid item was not stored either');
  });

  it('an inactive definition is refused too', async () => {
    const name = unique('Inactive').replace('-', '');
    const created = await call(`${server.url}/api/v1/kpi-definitions`, {
      token: server.masterKey,
      body: { name, stateCode: 1 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const started = await startConversation(server);
    const [violation] = violationsOf(await logEvents(server, started, [{ kpiEventName: name }]));
    assert.match(violation?.message ?? '', /is inactive/);
  });

  it('is accepted and flagged when the organization says so', async () => {
    const org = unique('flagging');
    assert.equal(
      (await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: org } })).status,
      201,
    );
    const setting = await call<{ unknownKpiEvents: string }>(`${server.url}/api/v1/orgs/${org}`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { unknownKpiEvents: 'flag' },
    });
    assert.equal(setting.body.unknownKpiEvents, 'flag');
    const started = await startConversation(server, { org });
    const answer = await logEvents(
      server,
      started,
      [{ kpiEventName: 'CoffeeBreak' }, { kpiEventName: 'TabOpened' }],
      {
        org,
      },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.flagged, ['CoffeeBreak']);
    const stored = await odataList(server, `msdyn_kpieventsdata?org=${org}&$orderby=msdyn_kpieventname`);
    assert.deepEqual(
      stored.map((e) => [e.msdyn_kpieventname, e.openua_flag, e.msdyn_kpieventid === null]),
      [
        ['CoffeeBreak', 'unknownKpiEvent', true],
        ['TabOpened', null, false],
      ],
    );
  });
});

describe('an unknown conversation, session or participant', () => {
  it('is refused, naming what is missing, and nothing is stored', async () => {
    const missing = ids();
    const answer = await logEvents(server, missing, [{ kpiEventName: 'SessionStarted' }]);
    const violations = violationsOf(answer);
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule, v.received]),
      [['data.conversationId', 'reference', missing.conversationId]],
    );
    assert.deepEqual(await eventsOf(missing.conversationId), []);
  });

  it('names the session or participant the conversation does not have, in the names the caller used', async () => {
    const started = await startConversation(server);
    const v1 = await call(`${server.url}${LOG_PATH}`, {
      token: server.masterKey,
      body: {
        data: {
          conversationId: started.conversationId,
          sessionId: 'no-such-session',
          events: [{ kpiEventName: 'SessionStarted' }],
        },
        eventName: 'SessionStarted',
      },
    });
    assert.deepEqual(
      violationsOf(v1).map((v) => [v.field, v.rule, v.received]),
      [['data.sessionId', 'reference', 'no-such-session']],
    );
    const participant = await logEvents(server, { ...started, participantId: 'nobody' }, [{}]);
    assert.deepEqual(
      violationsOf(participant).map((v) => [v.field, v.rule]),
      [['data.participantId', 'reference']],
    );
    assert.deepEqual(await eventsOf(started.conversationId), []);
  });
});

describe('an over-long attribute', () => {
  it('is refused by initLogAnalytics with the field, the limit and the value, and nothing is stored', async () => {
    const providerId = await createProvider(server);
    const conversation = ids();
    const longName = 'x'.repeat(101);
    const body = initBody(providerId, conversation, { accountId: longName });
    const violations = violationsOf(
      await call(`${server.url}${INIT_PATH}`, { token: server.masterKey, body }),
    );
    assert.deepEqual(
      violations.map((v) => [v.field, v.rule, v.limit, v.received]),
      [['data.conversation.accountId', 'maxLength', 100, longName]],
    );
    assert.deepEqual(await conversationsNamed(conversation.conversationId), []);
  });

  it('is refused by logAnalyticsEvent and by the OData API alike', async () => {
    const started = await startConversation(server);
    const additional = 'y'.repeat(2001);
    const logged = violationsOf(
      await logEvents(server, started, [{ kpiEventName: 'TabOpened', additionalData: additional }]),
    );
    assert.deepEqual(
      logged.map((v) => [v.field, v.rule, v.limit]),
      [['data.events[0].additionalData', 'maxLength', 2000]],
    );
    const odata = await call(`${server.url}${ODATA}/msdyn_conversationsdata`, {
      token: server.masterKey,
      body: { msdyn_conversationid: 'c'.repeat(101), msdyn_providerid: started.providerId },
    });
    const error = odataErrorOf(odata, 400, 'INVALID_REQUEST');
    assert.deepEqual(
      error.violations?.map((v) => [v.field, v.rule]),
      [['msdyn_conversationid', 'maxLength']],
    );
    assert.deepEqual(await eventsOf(started.conversationId), []);
  });
});

describe('a $filter that does not parse', () => {
  it('is refused in the OData shape, naming $filter and the position', async () => {
    for (const expression of ["msdyn_name eq 'unclosed", 'msdyn_name eq', 'and or']) {
      const answer = await call(`${server.url}${ODATA}/msdyn_conversationsdata${filter(expression)}`, {
        token: server.masterKey,
      });
      const error = odataErrorOf(answer, 400, 'INVALID_REQUEST');
      assert.deepEqual(
        error.violations?.map((v) => [v.field, v.rule, v.received]),
        [['$filter', 'syntax', expression]],
      );
    }
  });

  it('one that parses but does not fit the entity set is refused with the reason', async () => {
    const cases: [string, RegExp][] = [
      ["msdyn_nosuchattribute eq 'a'", /has no attribute "msdyn_nosuchattribute"/],
      ['msdyn_conversationtimestamp eq 42', /holds datetime values/],
      ['msdyn_conversationid eq msdyn_channel', /with a literal value/],
      ["tolower(msdyn_channel) eq 'chat'", /not supported/],
      ["contains(msdyn_conversationtimestamp,'2024')", /text attribute/],
    ];
    for (const [expression, reason] of cases) {
      const answer = await call(`${server.url}${ODATA}/msdyn_conversationsdata${filter(expression)}`, {
        token: server.masterKey,
      });
      const error = odataErrorOf(answer, 400, 'INVALID_REQUEST');
      assert.equal(error.violations?.[0]?.field, '$filter', expression);
      assert.match(error.message, reason, expression);
    }
  });
});
