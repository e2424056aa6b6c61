import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createProvider,
  filter,
  INIT_PATH,
  initBody,
  LOG_PATH,
  odataList,
  startConversation,
  unique,
} from '../helpers/channel.ts';
import { violationsOf } from '../helpers/errors.ts';
import { call, createKey, readEvents, serverForSuite, type TestServer } from '../helpers/server.ts';

/** initLogAnalytics and logAnalyticsEvent over HTTP: both payload shapes, idempotency, correlation ids. */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const post = (path: string, body: unknown, token = server.masterKey) =>
  call(`${server.url}${path}`, { token, body });

const participantsOf = (providerSessionId: string) =>
  odataList(
    server,
    'msdyn_sessionparticipantsdata',
    `${filter(`msdyn_providersessionid eq '${providerSessionId}'`)}&$orderby=msdyn_participantid`,
  );

describe('initLogAnalytics', () => {
  it('creates the conversation, session and participants, and answers the JS API string', async () => {
    const providerId = await createProvider(server);
    const ids = { conversationId: unique('c'), providerSessionId: unique('s'), participantId: 'agent-1' };
    const answer = await post(INIT_PATH, initBody(providerId, ids));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.match(String(answer.body.result), /^initLogAnalytics succeeded/);
    assert.match(String(answer.body.correlationId), /^[0-9a-f-]{36}$/, 'a correlation id is generated');
    const [conversation] = await odataList(
      server,
      'msdyn_conversationsdata',
      filter(`msdyn_conversationid eq '${ids.conversationId}'`),
    );
    assert.equal(conversation?.msdyn_conversationdataid, answer.body.conversationDataId);
    assert.equal(conversation?.openua_correlationid, answer.body.correlationId, 'kept on the record');
    const [participant] = await participantsOf(ids.providerSessionId);
    assert.equal(participant?.msdyn_participantname, 'Alex');
    assert.deepEqual(answer.body.participantDataIds, [participant?.msdyn_sessionparticipantdataid]);
  });

  it('is idempotent: a replay with the same ids changes and duplicates nothing', async () => {
    const providerId = await createProvider(server);
    const ids = { conversationId: unique('c'), providerSessionId: unique('s'), participantId: 'agent-1' };
    const body = { ...initBody(providerId, ids), correlationId: crypto.randomUUID() };
    const first = await post(INIT_PATH, body);
    const read = () =>
      odataList(server, 'msdyn_conversationsdata', filter(`msdyn_conversationid eq '${ids.conversationId}'`));
    const before = await read();
    const second = await post(INIT_PATH, body);
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, { ...first.body, result: second.body.result });
    assert.match(String(second.body.result), /0 record\(s\) written/);
    assert.deepEqual(await read(), before, 'same record, same version, same modifiedon');
    assert.equal((await participantsOf(ids.providerSessionId)).length, 1);
  });

  it('accepts the earlier (2019-10-16) shape, with its names', async () => {
    const providerId = await createProvider(server);
    const conversationId = unique('c');
    const sessionId = unique('s');
    const answer = await post(INIT_PATH, {
      data: {
        conversation: {
          backendConversationId: conversationId,
          channelContext: 'voice',
          externalProviderId: providerId,
          externalAccountId: 'acct',
          conversationTimestamp: '2026-02-01T08:00:00.000Z',
          session: {
            conversationId,
            sessionId,
            sessionName: 'Call',
            clientSessionId: 'uci-1',
            clientSessionName: 'Session 1',
            sessionChannel: 'voice',
            sessionCreatedTimestamp: '2026-02-01T08:00:01.000Z',
            participants: [
              {
                sessionId,
                conversationId,
                participantId: 'agent-9',
                participantName: 'Robin',
                externalParticipantId: 'ext-9',
                externalParticipantName: 'robin@contoso.example',
                participantMode: 1,
                participantType: 'Agent',
                participantAddedTimestamp: '2026-02-01T08:00:05.000Z',
              },
            ],
          },
        },
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [conversation] = await odataList(
      server,
      'msdyn_conversationsdata',
      filter(`msdyn_conversationid eq '${conversationId}'`),
    );
    assert.equal(conversation?.msdyn_channel, 'voice');
    assert.equal(conversation?.msdyn_accountid, 'acct');
    assert.equal(conversation?.msdyn_conversationtimestamp, '2026-02-01T08:00:00.000Z');
    const [session] = await odataList(
      server,
      'msdyn_sessionsdata',
      filter(`msdyn_providersessionid eq '${sessionId}'`),
    );
    assert.equal(session?.msdyn_name, 'Call', "the provider's session name");
    assert.equal(session?.msdyn_ucisessionname, 'Session 1', "the client's, beside it");
    const [participant] = await participantsOf(sessionId);
    assert.equal(participant?.msdyn_participantname, 'Robin');
    assert.equal(participant?.openua_externalparticipantid, 'ext-9');
    assert.equal(participant?.openua_externalparticipantname, 'robin@contoso.example');
    assert.equal(participant?.msdyn_participantmode, '1', 'a numeric mode is kept as its digits');
  });

  it('refuses names that disagree and what is missing, listing every violation', async () => {
    const providerId = await createProvider(server);
    const answer = await post(INIT_PATH, {
      data: {
        conversation: {
          conversationId: 'a',
          backendConversationId: 'b',
          providerId,
          session: { participants: [{ participantId: 'p' }, { participantId: 'p' }] },
        },
      },
      correlationId: 'not-a-guid',
    });
    assert.deepEqual(
      violationsOf(answer)
        .map((v) => [v.field, v.rule])
        .sort(),
      [['correlationId', 'format']],
      'the schema is checked first',
    );
    const second = await post(INIT_PATH, {
      data: {
        conversation: {
          conversationId: 'a',
          backendConversationId: 'b',
          session: { participants: [{ participantId: 'p' }, { participantId: 'p' }] },
        },
      },
    });
    assert.deepEqual(
      violationsOf(second)
        .map((v) => [v.field, v.rule])
        .sort(),
      [
        ['data.conversation.backendConversationId', 'sameAs'],
        ['data.conversation.providerId', 'required'],
        ['data.conversation.session.participants[1].participantId', 'uniqueItems'],
        ['data.conversation.session.providerSessionId', 'required'],
      ],
    );
  });
});

describe('logAnalyticsEvent', () => {
  it('takes the v1 payload (sessionId, eventParticipantId) and every v1 event field', async () => {
    const started = await startConversation(server);
    const answer = await post(LOG_PATH, {
      data: {
        conversationId: started.conversationId,
        sessionId: started.providerSessionId,
        clientSessionId: 'client-1',
        eventParticipantId: started.participantId,
        events: [
          {
            kpiEventName: 'KnowledgeArticleViewed',
            kpiEventReason: 'search',
            eventTimestamp: '2026-04-01T12:00:00.000Z',
            knowledgeArticleId: 'ka-1',
            knowledgeArticleName: 'Returns policy',
            tabId: 'tab-1',
            tabName: 'Returns',
            additionalData: { source: 'sidebar' },
            externalCorrelationId: 'ext-1',
            customData: [
              { attribute: 'Search Terms', value: 'refund' },
              { attribute: 'Rank', value: 2 },
            ],
          },
          { kpiEventName: 'PresenceChanged', oldPresence: 'Available', newPresence: 'Busy' },
        ],
      },
      eventName: 'KnowledgeArticleViewed',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((answer.body.eventIds as string[]).length, 2);
    const events = (await readEvents(server)).filter((e) => e.conversationId === started.conversationId);
    const article = events.find((e) => e.eventType === 'KnowledgeArticleViewed');
    assert.deepEqual(
      {
        providerSessionId: article?.providerSessionId,
        participantId: article?.participantId,
        clientSessionId: article?.clientSessionId,
        eventValue: article?.eventValue,
        eventTime: article?.eventTime,
        derivedTime: article?.derivedTime,
        knowledgeArticleId: article?.knowledgeArticleId,
        knowledgeArticleName: article?.knowledgeArticleName,
        tabId: article?.tabId,
        tabName: article?.tabName,
        additionalData: article?.additionalData,
        externalCorrelationId: article?.externalCorrelationId,
        customData: article?.customData,
        correlationId: article?.correlationId,
      },
      {
        providerSessionId: started.providerSessionId,
        participantId: started.participantId,
        clientSessionId: 'client-1',
        eventValue: 'search',
        eventTime: '2026-04-01T12:00:00.000Z',
        derivedTime: '2026-04-01T12:00:00.000Z',
        knowledgeArticleId: 'ka-1',
        knowledgeArticleName: 'Returns policy',
        tabId: 'tab-1',
        tabName: 'Returns',
        additionalData: '{"source":"sidebar"}',
        externalCorrelationId: 'ext-1',
        customData: { search_terms: 'refund', rank: '2' },
        correlationId: answer.body.correlationId,
      },
    );
    const presence = events.find((e) => e.eventType === 'PresenceChanged');
    assert.deepEqual([presence?.oldPresence, presence?.newPresence], ['Available', 'Busy']);
    assert.equal(presence?.receivedTime, presence?.derivedTime, 'without a timestamp, the server time');
  });

  it('takes the v2 payload (providerSessionId, participantId), keeps a given correlation id, and names default to eventName', async () => {
    const started = await startConversation(server);
    const correlationId = crypto.randomUUID();
    const answer = await post(LOG_PATH, {
      data: {
        conversationId: started.conversationId,
        providerSessionId: started.providerSessionId,
        participantId: started.participantId,
        events: [{ notificationResponseAction: 'Reject' }],
      },
      eventName: 'NotificationResponse',
      correlationId,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.correlationId, correlationId);
    const [event] = (await readEvents(server)).filter((e) => e.conversationId === started.conversationId);
    assert.equal(event?.eventType, 'NotificationResponse');
    assert.equal(event?.notificationResponseAction, 'Reject');
    assert.equal(event?.correlationId, correlationId);
  });

  it('refuses v1 and v2 names that disagree', async () => {
    const started = await startConversation(server);
    const answer = await post(LOG_PATH, {
      data: {
        conversationId: started.conversationId,
        providerSessionId: started.providerSessionId,
        sessionId: 'another',
        events: [{}],
      },
      eventName: 'SessionStarted',
    });
    assert.deepEqual(
      violationsOf(answer).map((v) => [v.field, v.rule, v.received]),
      [['data.sessionId', 'sameAs', 'another']],
    );
  });

  it('uses the credential for identity and needs analytics:write', async () => {
    const started = await startConversation(server);
    const reader = await createKey(server, ['analytics:read']);
    const refused = await call(`${server.url}${LOG_PATH}`, {
      token: reader,
      body: { data: { conversationId: started.conversationId, events: [{}] }, eventName: 'SessionStarted' },
    });
    assert.equal(refused.status, 403);
    const writer = await createKey(server, ['analytics:write']);
    const accepted = await call(`${server.url}${LOG_PATH}`, {
      token: writer,
      body: { data: { conversationId: started.conversationId, events: [{}] }, eventName: 'SessionStarted' },
    });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const [event] = (await readEvents(server)).filter((e) => e.conversationId === started.conversationId);
    assert.equal(event?.credentialId, writer.split('_')[1]);
    assert.equal(event?.providerSessionId, null, 'a conversation-level event');
  });

  it('an event with an eventId is stored once: a replay answers the first ids and counts the duplicates', async () => {
    const started = await startConversation(server);
    const key = unique('kpi-key');
    const body = {
      data: {
        conversationId: started.conversationId,
        providerSessionId: started.providerSessionId,
        participantId: started.participantId,
        events: [{ kpiEventName: 'HoldStarted', eventId: key }, { kpiEventName: 'HoldEnded' }],
      },
      eventName: 'HoldStarted',
    };
    const first = await call<{ eventIds: string[]; duplicates: number }>(`${server.url}${LOG_PATH}`, {
      token: server.masterKey,
      body,
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.duplicates, 0);
    const replay = await call<{ eventIds: string[]; duplicates: number }>(`${server.url}${LOG_PATH}`, {
      token: server.masterKey,
      body,
    });
    assert.equal(replay.body.duplicates, 1);
    assert.equal(replay.body.eventIds[0], first.body.eventIds[0], 'the keyed event is the first one');
    assert.notEqual(replay.body.eventIds[1], first.body.eventIds[1], 'the unkeyed one is stored again');
    const stored = (await readEvents(server)).filter((e) => e.conversationId === started.conversationId);
    assert.equal(stored.filter((e) => e.idempotencyKey === key).length, 1);
    assert.equal(stored.filter((e) => e.eventType === 'HoldEnded').length, 2);
    const tooLong = {
      ...body,
      data: { ...body.data, events: [{ kpiEventName: 'HoldStarted', eventId: 'k'.repeat(129) }] },
    };
    const refused = violationsOf(
      await call(`${server.url}${LOG_PATH}`, { token: server.masterKey, body: tooLong }),
    );
    assert.deepEqual(
      refused.map((v) => [v.field, v.rule]),
      [['data.events[0].eventId', 'maxLength']],
    );
  });
});
