import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { logEvents, startConversation } from '../helpers/channel.ts';
import { openua } from '../helpers/cli.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  readEvents,
  serverForSuite,
  type TestServer,
  tempDir,
} from '../helpers/server.ts';

/** A person's export: exactly their events, records and rejected payloads, as one JSON document. */

type Document = {
  subject: { kind: string; value: string };
  coveredUntil: string;
  events: Record<string, unknown>[];
  records: Record<string, Record<string, unknown>[]>;
  rejections: Record<string, unknown>[];
};

describe('a person’s export', () => {
  let server: TestServer;
  // A long load interval: the last events are still in the ingest log when the export is asked for.
  serverForSuite(
    (s) => {
      server = s;
    },
    { env: { OPENUA_LOAD_INTERVAL_MS: '60000' } },
  );

  const post = (pathname: string, body: unknown, token = server.masterKey) =>
    call<Document>(`${server.url}${pathname}`, { token, body });
  const custom = async (extra: Record<string, unknown>) => {
    const answer = await post(CUSTOM_PATH, { eventType: 'facet', eventValue: 'v', language: 'en', ...extra });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  };

  it('holds exactly the person’s events, records and rejections, and nobody else’s', async () => {
    const [me, other] = [randomUUID(), randomUUID()];
    for (const client of [me, other, me, other]) await custom({ clientId: client, username: `u-${client}` });
    const refused = await post(CUSTOM_PATH, { eventType: 'x', language: 'en', clientId: me, outcome: 'no' });
    assert.equal(refused.status, 400);
    await custom({ clientId: me, eventType: 'late' });
    const answer = await post('/api/v1/privacy/exports', { visitorId: me });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const document = answer.body;
    assert.deepEqual(document.subject, { kind: 'visitorId', value: me });
    assert.equal(document.events.length, 3, 'both events and the one still in the ingest log');
    assert.ok(document.events.every((e) => e.visitorId === me));
    const stored = (await readEvents(server)).filter((e) => e.visitorId === me);
    const sorted = (events: Record<string, unknown>[]) =>
      [...events].sort((a, b) => String(a.id).localeCompare(String(b.id)));
    assert.deepEqual(sorted(document.events), sorted(stored), 'each as GET /api/v1/events answers it');
    assert.equal(document.rejections.length, 1);
    assert.ok(String(document.rejections[0]?.payload).includes(me));
    assert.ok(!JSON.stringify(document).includes(other), 'nobody else’s data');
  });

  it('holds a conversation’s records and KPI events', async () => {
    const mine = await startConversation(server);
    const theirs = await startConversation(server);
    for (const ids of [mine, theirs]) {
      const answer = await logEvents(server, ids, [{ kpiEventName: 'SessionStarted' }]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    const { body } = await post('/api/v1/privacy/exports', { conversationId: mine.conversationId });
    assert.equal(body.events.length, 1);
    assert.equal(body.events[0]?.conversationId, mine.conversationId);
    assert.deepEqual(
      Object.fromEntries(Object.entries(body.records).map(([table, rows]) => [table, rows.length])),
      { channel_conversations: 1, channel_sessions: 1, channel_participants: 1 },
    );
    assert.ok(!JSON.stringify(body).includes(theirs.conversationId));
    const agent = await post('/api/v1/privacy/exports', { participantId: mine.participantId });
    assert.deepEqual(
      agent.body.records.channel_participants?.map((r) => r.participantId),
      [mine.participantId],
    );
  });

  it('refuses a body without exactly one identifier, and a key without admin', async () => {
    const two = await post('/api/v1/privacy/exports', { username: 'a', visitorId: 'b' });
    assert.equal(two.status, 400);
    const reader = await createKey(server, ['analytics:read']);
    assert.equal((await post('/api/v1/privacy/exports', { username: 'a' }, reader)).status, 403);
  });

  it('is written to a file by the CLI', async () => {
    const who = randomUUID();
    await custom({ clientId: who });
    const out = path.join(tempDir(), 'export.json');
    const run = await openua(
      ['privacy', 'export', '--client-id', who, '--out', out, '--server', server.url],
      {
        OPENUA_MASTER_KEY: server.masterKey,
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const document = JSON.parse(readFileSync(out, 'utf8')) as Document;
    assert.deepEqual(document.subject, { kind: 'clientId', value: who });
    assert.equal(document.events.length, 1);
  });
});
