import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, LOG_PATH, ODATA, odataErrorOf, startConversation, unique } from '../helpers/channel.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';

/** Every entity set is seen only by its own organization's credentials, and each route checks privileges. */

let server: TestServer;
/** Keys of organization `default` (A) and of another one (B). */
let readA: string;
let readB: string;
let writeB: string;
let adminB: string;
let records: Record<string, string>;
let conversationId: string;
let correlationId: string;

serverForSuite(async (started) => {
  server = started;
  const other = unique('org-b');
  await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: other } });
  readA = await createKey(server, ['analytics:read']);
  readB = await createKey(server, ['analytics:read'], other);
  writeB = await createKey(server, ['analytics:write'], other);
  adminB = await createKey(server, ['admin', 'analytics:read', 'analytics:write'], other);
  // One record of every set in organization A.
  const conversation = await startConversation(server);
  conversationId = conversation.conversationId;
  correlationId = conversation.correlationId;
  const logged = await call<{ eventIds: string[] }>(`${server.url}${LOG_PATH}`, {
    token: server.masterKey,
    body: {
      data: { ...conversation, events: [{ kpiEventName: 'SessionStarted' }] },
      eventName: 'SessionStarted',
      correlationId,
    },
  });
  const first = async (set: string, expression: string) => {
    const answer = await call<{ value: Record<string, unknown>[] }>(
      `${server.url}${ODATA}/${set}${filter(expression)}`,
      {
        token: readA,
      },
    );
    return answer.body.value[0] as Record<string, unknown>;
  };
  records = {
    msdyn_ciproviders: conversation.providerId,
    msdyn_kpieventdefinitions: (await first('msdyn_kpieventdefinitions', "msdyn_name eq 'SessionStarted'"))
      .msdyn_kpieventdefinitionid as string,
    msdyn_conversationsdata: (
      await first('msdyn_conversationsdata', `msdyn_conversationid eq '${conversationId}'`)
    ).msdyn_conversationdataid as string,
    msdyn_sessionsdata: (await first('msdyn_sessionsdata', `msdyn_conversationid eq '${conversationId}'`))
      .msdyn_sessiondataid as string,
    msdyn_sessionparticipantsdata: (
      await first('msdyn_sessionparticipantsdata', `msdyn_conversationid eq '${conversationId}'`)
    ).msdyn_sessionparticipantdataid as string,
    msdyn_kpieventsdata: logged.body.eventIds[0] as string,
  };
});

describe('organization isolation on every entity set', () => {
  it('organization A reads its own records by id', async () => {
    for (const [set, id] of Object.entries(records)) {
      const answer = await call(`${server.url}${ODATA}/${set}(${id})`, { token: readA });
      assert.equal(answer.status, 200, `${set}: ${JSON.stringify(answer.body)}`);
    }
  });

  it('organization B neither lists, reads, updates nor deletes them', async () => {
    for (const [set, id] of Object.entries(records)) {
      const list = await call<{ value: Record<string, unknown>[] }>(`${server.url}${ODATA}/${set}`, {
        token: readB,
      });
      assert.equal(list.status, 200, set);
      const ids = list.body.value.map((r) => Object.values(r)[0]);
      assert.ok(!ids.includes(id), `${set} of A is not listed for B`);
      odataErrorOf(await call(`${server.url}${ODATA}/${set}(${id})`, { token: readB }), 404, 'NOT_FOUND');
      odataErrorOf(
        await call(`${server.url}${ODATA}/${set}(${id})`, { method: 'PATCH', token: adminB, body: {} }),
        404,
        'NOT_FOUND',
      );
      odataErrorOf(
        await call(`${server.url}${ODATA}/${set}(${id})`, { method: 'DELETE', token: adminB }),
        404,
        'NOT_FOUND',
      );
    }
    // Still there for A.
    for (const [set, id] of Object.entries(records)) {
      assert.equal((await call(`${server.url}${ODATA}/${set}(${id})`, { token: readA })).status, 200, set);
    }
  });

  it("B's keys cannot name A's organization, nor log into A's conversation", async () => {
    const named = await call(`${server.url}${ODATA}/msdyn_conversationsdata?org=default`, { token: readB });
    odataErrorOf(named, 403, 'FORBIDDEN');
    const logged = await call(`${server.url}${LOG_PATH}`, {
      token: writeB,
      body: { data: { conversationId, events: [{}] }, eventName: 'SessionStarted' },
    });
    assert.equal(logged.status, 400, 'the conversation does not exist for B');
    const correlation = await call<{ items: unknown[] }>(
      `${server.url}/api/v1/correlations/${correlationId}`,
      {
        token: readB,
      },
    );
    assert.deepEqual(correlation.body.items, []);
    const own = await call<{ items: unknown[] }>(`${server.url}/api/v1/correlations/${correlationId}`, {
      token: readA,
    });
    assert.ok(own.body.items.length >= 4);
  });
});

describe('privileges', () => {
  it('reading needs analytics:read; writing analytics:write; configuration and deletes need admin', async () => {
    const writeA = await createKey(server, ['analytics:write']);
    const cases: [string, string, string, unknown?][] = [
      [writeA, 'GET', 'msdyn_conversationsdata'],
      [readA, 'POST', 'msdyn_conversationsdata', {}],
      [writeA, 'POST', 'msdyn_ciproviders', { msdyn_name: 'x' }],
      [writeA, 'POST', 'msdyn_kpieventdefinitions', { msdyn_name: 'x' }],
      [writeA, 'DELETE', `msdyn_conversationsdata(${records.msdyn_conversationsdata})`],
      [readA, 'PATCH', `msdyn_kpieventsdata(${records.msdyn_kpieventsdata})`, {}],
    ];
    for (const [token, method, path, body] of cases) {
      const answer = await call(`${server.url}${ODATA}/${path}`, { method, token, body });
      const error = odataErrorOf(answer, 403, 'FORBIDDEN');
      assert.equal(error.violations?.[0]?.rule, 'privilege', `${method} ${path}`);
    }
    for (const path of ['/api/v1/providers', '/api/v1/kpi-definitions']) {
      assert.equal((await call(`${server.url}${path}`, { token: readA })).status, 403, path);
    }
    assert.equal(
      (await call(`${server.url}/api/v1/correlations/${correlationId}`, { token: writeA })).status,
      403,
    );
  });
});
