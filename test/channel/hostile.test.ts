import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INIT_PATH, LOG_PATH, ODATA, startConversation } from '../helpers/channel.ts';
import { call, serverForSuite, type TestServer } from '../helpers/server.ts';

/** Whatever a client sends to the channel routes, the answer is a 4xx that says why, never a 500. */

let server: TestServer;
let place: Record<string, string>;
serverForSuite(async (started) => {
  server = started;
  const conversation = await startConversation(server);
  place = {
    conversationId: conversation.conversationId,
    providerSessionId: conversation.providerSessionId,
  };
});

const BODIES: unknown[] = [
  null,
  [],
  'text',
  42,
  {},
  { data: null },
  { data: [] },
  { data: { conversation: null } },
  { data: { conversation: { conversationId: {}, session: [] } } },
  {
    data: {
      conversation: {
        conversationId: 'c',
        providerId: 'p',
        session: { providerSessionId: 's', participants: {} },
      },
    },
  },
  { data: { conversation: { conversationId: 'c', customData: [{ attribute: '__proto__', value: 1 }] } } },
  { data: { conversationId: 'c', events: [] }, eventName: 'x' },
  { data: { conversationId: 'c', events: [null] }, eventName: 'x' },
  { data: { conversationId: 'c', events: [{ eventTimestamp: 'yesterday' }] }, eventName: 'x' },
  { data: { conversationId: 'c', events: [{}] }, eventName: '' },
  { data: { conversationId: 'c', events: [{ customData: { a: 1 } }] }, eventName: 'x' },
  { data: { conversationId: 'c', events: [{ customData: [{ attribute: 'Ä', value: 1 }] }] }, eventName: 'x' },
  { data: { conversationId: 'c', events: Array.from({ length: 501 }, () => ({})) }, eventName: 'x' },
];

describe('hostile bodies on the channel routes', () => {
  it('initLogAnalytics and logAnalyticsEvent answer 400 with violations', async () => {
    for (const path of [INIT_PATH, LOG_PATH]) {
      for (const body of BODIES) {
        const answer = await call(`${server.url}${path}`, { token: server.masterKey, body });
        assert.equal(
          answer.status,
          400,
          `${path} ${JSON.stringify(body)?.slice(0, 120)}: ${JSON.stringify(answer.body)}`,
        );
        assert.ok((answer.body.violations as unknown[]).length > 0);
      }
    }
  });

  it('logAnalyticsEvent refuses a non-ASCII customData attribute, naming it', async () => {
    const answer = await call(`${server.url}${LOG_PATH}`, {
      token: server.masterKey,
      body: {
        data: {
          ...place,
          events: [{ kpiEventName: 'TabOpened', customData: [{ attribute: 'Größe', value: 'L' }] }],
        },
        eventName: 'TabOpened',
      },
    });
    assert.equal(answer.status, 400);
    const [violation] = answer.body.violations as { field: string; rule: string; received: string }[];
    assert.deepEqual(
      [violation?.field, violation?.rule, violation?.received],
      ['data.events[0].customData.Größe', 'keyCharacters', 'Größe'],
    );
  });

  it('the OData API answers bad bodies and keys in its own error shape', async () => {
    const cases: [string, string, unknown, number][] = [
      ['POST', 'msdyn_conversationsdata', [], 400],
      ['POST', 'msdyn_conversationsdata', 'text', 400],
      ['POST', 'msdyn_conversationsdata', { msdyn_conversationid: 5, msdyn_providerid: true }, 400],
      ['POST', 'msdyn_ciproviders', { msdyn_name: 'x', statecode: 7 }, 400],
      ['POST', 'msdyn_kpieventsdata', { msdyn_kpieventname: 'x', msdyn_eventtimestamp: 'not a date' }, 400],
      ['POST', 'msdyn_conversationsdata(abc)', {}, 400],
      ['PATCH', "msdyn_conversationsdata('x')", { msdyn_channel: 'chat' }, 404],
      ['GET', 'msdyn_conversationsdata(%27%29%3B drop table events%3B--)', undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const answer = await call(`${server.url}${ODATA}/${path}`, { method, token: server.masterKey, body });
      assert.equal(answer.status, status, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      const { error } = answer.body as { error: { code: string; message: string } };
      assert.ok(error.code && error.message, `${method} ${path}: ${JSON.stringify(answer.body)}`);
    }
    // A quote inside a literal is data: it matches nothing and breaks nothing.
    const injected = await call<{ value: unknown[] }>(
      `${server.url}${ODATA}/msdyn_conversationsdata?$filter=${encodeURIComponent("msdyn_name eq 'x''); drop table events; --'")}`,
      { token: server.masterKey },
    );
    assert.equal(injected.status, 200, JSON.stringify(injected.body));
    assert.deepEqual(injected.body.value, []);
    // The store is intact.
    const list = await call(`${server.url}${ODATA}/msdyn_conversationsdata`, { token: server.masterKey });
    assert.equal(list.status, 200);
  });
});
