import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { GroupCommit } from '../../src/ingest/group-commit.ts';
import { IngestLog } from '../../src/ingest/ingest-log.ts';
import { PRIVACY_ERASURES } from '../../src/privacy/erasures.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { type ConversationIds, logEvents, startConversation } from '../helpers/channel.ts';
import { openua } from '../helpers/cli.ts';
import { databaseFor, testClickHouse, testEngine, testStorage } from '../helpers/engine.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  createKey,
  newMasterKey,
  readEvents,
  removeDir,
  startServer,
  type TestServer,
  tempDir,
} from '../helpers/server.ts';

/**
 * A person's erasure, by each identifier kind, through HTTP and the CLI: afterwards no table of the store (every
 * row, old versions included) and no file of the ingest log holds the identifier, while everyone else's events
 * are as they were and every KPI figure is unchanged (the default anonymises).
 */

type Job = Record<string, unknown> & { id: string; state: string; found: Counts; removed: Counts };
type Counts = {
  events: number;
  records: Record<string, number>;
  rejections: number;
  idempotencyKeys: number;
};

// A long load interval: events acknowledged just before an erasure are still in the ingest log when it starts.
const ENV = { OPENUA_LOAD_INTERVAL_MS: '60000' };

let server: TestServer;
const dataDir = tempDir();
const masterKey = newMasterKey();
const now = Date.now();
const iso = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();

const users = {
  target: `user-${randomUUID()}`,
  other: `user-${randomUUID()}`,
  deleted: `user-${randomUUID()}`,
};
const clients = { target: randomUUID(), other: randomUUID() };
const visitors = { target: randomUUID(), other: randomUUID() };
let conversations: { target: ConversationIds; other: ConversationIds };
let agents: { target: ConversationIds; other: ConversationIds };

const post = (pathname: string, body: unknown, token = masterKey, headers: Record<string, string> = {}) =>
  call<Record<string, unknown>>(`${server.url}${pathname}`, { token, body, headers });

async function custom(extra: Record<string, unknown>, headers: Record<string, string> = {}) {
  const answer = await post(
    CUSTOM_PATH,
    { eventType: 'facet', eventValue: 'v', language: 'en', ...extra },
    masterKey,
    headers,
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

async function kpiEvents(ids: ConversationIds, offset: number) {
  const answer = await logEvents(server, ids, [
    { kpiEventName: 'SessionStarted', eventTimestamp: iso(600 + offset) },
    { kpiEventName: 'SessionClosed', eventTimestamp: iso(300 + offset) },
  ]);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

async function erase(body: Record<string, unknown>): Promise<Job> {
  const answer = (await post('/api/v1/privacy/erasures', body)) as Answer<Job>;
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.equal(answer.headers.get('location'), `/api/v1/privacy/erasures/${answer.body.id}`);
  assert.ok(
    !JSON.stringify(answer.body).includes(Object.values(body)[0] as string),
    'the job never shows the id',
  );
  return waitDone(answer.body.id);
}

async function waitDone(id: string, target = server, token = masterKey): Promise<Job> {
  for (let i = 0; ; i++) {
    const answer = await call<Job>(`${target.url}/api/v1/privacy/erasures/${id}`, { token });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    if (answer.body.state === 'done' || answer.body.state === 'failed') {
      assert.equal(answer.body.state, 'done', JSON.stringify(answer.body));
      return answer.body;
    }
    await new Promise((r) => setTimeout(r, Math.min(20 * 2 ** i, 500)));
  }
}

/** KPI and UA figures over the whole seeded range. */
async function figures() {
  const answer = await post('/api/v1/query', {
    from: iso(86_400),
    to: new Date(now + 3_600_000).toISOString(),
    measures: [
      'conversations',
      'sessions',
      'averageHandleTime',
      'distinctUsers',
      'distinctClients',
      'distinctSessions',
    ],
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.rows;
}

const byId = (events: Record<string, unknown>[]) =>
  [...events].sort((a, b) => String(a.id).localeCompare(String(b.id)));

const targets = () => [
  users.target,
  users.deleted,
  clients.target,
  visitors.target,
  conversations.target.conversationId,
  agents.target.participantId,
];
const bystanders = () => [
  users.other,
  clients.other,
  visitors.other,
  conversations.other.conversationId,
  agents.other.participantId,
];

/** One statement on a ClickHouse node (the ClickHouse helpers are not imported: the matrix leaves out a file that starts its own). */
async function clickhouseQuery(url: string, sql: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', body: sql });
  const text = await response.text();
  assert.ok(response.ok, `${sql}: ${text}`);
  return text;
}

/** Every table's rows as text: DuckDB's file read directly, ClickHouse's tables without FINAL. */
async function storeText(): Promise<string> {
  if (testEngine() === 'duckdb') {
    const instance = await DuckDBInstance.create(path.join(dataDir, 'openua.duckdb'));
    const connection = await instance.connect();
    try {
      const tables = (
        await connection.runAndReadAll(
          "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'",
        )
      ).getRowObjectsJS() as { table_name: string }[];
      assert.ok(tables.length > 5, 'the scan reads every table');
      let text = '';
      for (const { table_name } of tables) {
        const rows = (await connection.runAndReadAll(`SELECT * FROM "${table_name}"`)).getRowObjectsJson();
        text += `${table_name}\n${JSON.stringify(rows)}\n`;
      }
      return text;
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }
  const { url, shardUrls } = await testClickHouse();
  const database = databaseFor(dataDir);
  let text = '';
  for (const node of testEngine() === 'clickhouse-cluster' ? shardUrls : [url]) {
    const tables = (
      await clickhouseQuery(
        node,
        `SELECT name FROM system.tables WHERE database = '${database}' AND engine NOT IN ('Distributed', 'View') FORMAT TSV`,
      )
    )
      .trim()
      .split('\n')
      .filter(Boolean);
    for (const table of tables)
      text += await clickhouseQuery(node, `SELECT * FROM ${database}.${table} FORMAT TSV`);
  }
  return text;
}

/** Every file of the ingest log (its segments, its dead-letter file). */
function ingestLogText(): string {
  const dir = path.join(dataDir, 'ingest-log');
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isFile())
    .map((name) => readFileSync(path.join(dir, name), 'utf8'))
    .join('\n');
}

describe('a person’s erasure', () => {
  let seeded: { figures: unknown; events: Record<string, unknown>[] };
  let targetEventIds: Set<string>;

  before(async () => {
    server = await startServer({ dataDir, masterKey, env: ENV });
    // UA people: a username (with display name, customData and an idempotency key holding it), a client, a visitor.
    for (const [name, client] of [
      [users.target, randomUUID()],
      [users.other, randomUUID()],
      [users.deleted, randomUUID()],
    ] as const) {
      await custom({
        username: name,
        userDisplayName: 'Ada Lovelace',
        clientId: client,
        customData: { who: name },
      });
      await custom({ username: name, clientId: client }, { 'idempotency-key': `key-${name}` });
      await post('/rest/ua/v15/analytics/search', {
        language: 'en',
        queryText: 'privacy',
        actionCause: 'searchboxSubmit',
        responseTime: 5,
        numberOfResults: 3,
        searchQueryUid: randomUUID(),
        username: name,
        clientId: client,
      });
      // Refused (outcome is a number): kept as a rejection, its payload holding the username.
      const refused = await post(CUSTOM_PATH, {
        eventType: 'x',
        eventValue: 'y',
        language: 'en',
        username: name,
        outcome: 'no',
      });
      assert.equal(refused.status, 400);
    }
    for (const client of [clients.target, clients.other]) await custom({ clientId: client });
    for (const visitor of [visitors.target, visitors.other]) {
      await custom({ clientId: visitor });
      await custom({ clientId: visitor, eventType: 'second' });
    }
    // Channel people: a conversation (its records, KPI events and units) and an agent (a participant).
    conversations = { target: await startConversation(server), other: await startConversation(server) };
    agents = { target: await startConversation(server), other: await startConversation(server) };
    const everyone = [...Object.values(conversations), ...Object.values(agents)];
    for (const [i, ids] of everyone.entries()) await kpiEvents(ids, 10 * i);
    seeded = { figures: await figures(), events: byId(await readEvents(server)) };
    targetEventIds = new Set(
      seeded.events
        .filter((e) => targets().some((t) => JSON.stringify(e).includes(t)))
        .map((e) => e.id as string),
    );
    assert.ok(targetEventIds.size === 13, `the targets' events are there (${targetEventIds.size})`);
  });

  after(async () => {
    await server?.close();
    removeDir(dataDir);
  });

  it('refuses a body without exactly one identifier, naming the fields and the rule', async () => {
    const none = await post('/api/v1/privacy/erasures', {});
    assert.equal(none.status, 400);
    const [v] = none.body.violations as { field: string; rule: string }[];
    assert.equal(v?.rule, 'oneIdentifier');
    const two = await post('/api/v1/privacy/erasures', { username: 'a', clientId: 'b' });
    assert.equal(two.status, 400);
    assert.deepEqual(
      (two.body.violations as { field: string; rule: string; received: string }[]).map((x) => [
        x.field,
        x.rule,
        x.received,
      ]),
      [
        ['username', 'oneIdentifier', 'a'],
        ['clientId', 'oneIdentifier', 'b'],
      ],
    );
    const unknown = await post('/api/v1/privacy/erasures', { email: 'a@b.c' });
    assert.equal(unknown.status, 400);
  });

  it('needs admin, and another organization never sees a job', async () => {
    const writer = await createKey(server, ['analytics:write', 'analytics:read']);
    assert.equal((await post('/api/v1/privacy/erasures', { username: 'x' }, writer)).status, 403);
    assert.equal((await post('/api/v1/privacy/exports', { username: 'x' }, writer)).status, 403);
    await post('/api/v1/orgs', { id: 'elsewhere' });
    const otherAdmin = await createKey(server, ['admin'], 'elsewhere');
    const job = await erase({ username: `nobody-${randomUUID()}` });
    const seen = await call(`${server.url}/api/v1/privacy/erasures/${job.id}`, { token: otherAdmin });
    assert.equal(seen.status, 404);
    const list = await call<{ erasures: Job[] }>(`${server.url}/api/v1/privacy/erasures`, {
      token: otherAdmin,
    });
    assert.deepEqual(list.body.erasures, []);
  });

  it('erases by username, including events still in the ingest log, keyed events and rejections', async () => {
    const client = (seeded.events.find((e) => e.username === users.target) as { clientId: string }).clientId;
    // Acknowledged just before: still in the ingest log when the job starts.
    await custom({ username: users.target, clientId: client, eventType: 'late' });
    const job = await erase({ username: users.target });
    assert.ok(job.found.events >= 4, JSON.stringify(job));
    assert.equal(job.removed.events, job.found.events);
    assert.equal(job.found.rejections, 1);
    assert.equal(job.removed.idempotencyKeys, 1);
    assert.equal(typeof job.coveredUntil, 'string');
    const stored = await readEvents(server);
    const late = stored.filter((e) => e.eventType === 'late');
    assert.equal(late.length, 1, 'the late event is kept, anonymised');
    assert.match(String(late[0]?.username), /^erased-/);
    assert.equal(late[0]?.userDisplayName, null);
    const mine = stored.filter((e) => e.username === late[0]?.username);
    assert.equal(mine.length, job.found.events, 'one pseudonym for all of the person’s events');
    // The audit log holds the request and the completion, about the job, by the subject's keyed hash.
    const audit = await call<{ entries: Record<string, unknown>[] }>(
      `${server.url}/api/v1/audit?subjectKind=username&subject=${users.target}`,
      { token: masterKey },
    );
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    const actions = audit.body.entries.filter((e) => e.target === job.id).map((e) => e.action);
    assert.deepEqual(actions.sort(), ['erasure.complete', 'erasure.request']);
    assert.ok(audit.body.entries.every((e) => e.subjectHash === job.subjectHash && job.subjectHash));
    assert.ok(!JSON.stringify(audit.body).includes(users.target));
  });

  it('erases by client id and by visitor id (through the CLI, which waits for the job)', async () => {
    await custom({ clientId: clients.target, eventType: 'late' });
    const job = await erase({ clientId: clients.target });
    assert.ok(job.found.events >= 2, JSON.stringify(job));
    const run = await openua(['privacy', 'erase', '--visitor-id', visitors.target, '--server', server.url], {
      OPENUA_MASTER_KEY: masterKey,
      OPENUA_DATA_DIR: dataDir,
    });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Job;
    assert.equal(report.state, 'done');
    assert.equal(report.found.events, 2);
    const status = await openua(['privacy', 'erasure', report.id, '--server', server.url], {
      OPENUA_MASTER_KEY: masterKey,
    });
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as Job).id, report.id);
  });

  it('erases a conversation: its records deleted, its KPI events anonymised', async () => {
    const job = await erase({ conversationId: conversations.target.conversationId });
    assert.ok(job.found.events >= 2, JSON.stringify(job));
    assert.deepEqual(job.removed.records, {
      channel_conversations: 1,
      channel_sessions: 1,
      channel_participants: 1,
    });
  });

  it('erases a participant: its participant record deleted, its events anonymised', async () => {
    const job = await erase({ participantId: agents.target.participantId });
    assert.ok(job.found.events >= 2, JSON.stringify(job));
    assert.deepEqual(job.removed.records, { channel_participants: 1 });
  });

  it('leaves everyone else’s events as they were, and every figure unchanged', async () => {
    const after = byId(await readEvents(server));
    const others = (events: Record<string, unknown>[]) =>
      events.filter((e) => !targetEventIds.has(e.id as string) && seeded.events.some((b) => b.id === e.id));
    assert.deepEqual(others(after), others(seeded.events));
    assert.equal(others(after).length, 10);
    assert.deepEqual(await figures(), seeded.figures);
  });

  it('a second erasure finds nothing more; an event sent after coveredUntil is kept, and the job said so', async () => {
    const again = await erase({ username: users.target });
    assert.equal(again.found.events, 0);
    assert.equal(again.found.rejections, 0);
    await custom({ username: users.target, eventType: 'afterwards' });
    const [later] = (await readEvents(server)).filter((e) => e.eventType === 'afterwards');
    assert.equal(later?.username, users.target, 'not erased silently: it came after the job');
    assert.ok(new Date(String(later?.receivedTime)) >= new Date(String(again.coveredUntil)));
    // Cleaned again, for the scan below.
    const third = await erase({ username: users.target });
    assert.equal(third.found.events, 1);
  });

  it('deletes instead, when asked: the events go', async () => {
    const job = await erase({ username: users.deleted, mode: 'delete' });
    assert.equal(job.found.events, 3);
    assert.equal(job.removed.events, 3);
    assert.equal(
      (await readEvents(server)).filter((e) => targetEventIds.has(e.id as string)).length,
      targetEventIds.size - 3,
    );
  });

  it('leaves no trace of any erased identifier in any table or ingest log file; others are still there', async () => {
    const log = ingestLogText();
    await server.close();
    const text = `${await storeText()}\n${log}\n${ingestLogText()}`;
    for (const identifier of targets()) assert.ok(!text.includes(identifier), `${identifier} is gone`);
    // The scan would have seen them: the people not erased are still there.
    for (const identifier of bystanders()) assert.ok(text.includes(identifier), `${identifier} is kept`);
    server = await startServer({ dataDir, masterKey, env: ENV });
    const [job] = (
      await call<{ erasures: Job[] }>(`${server.url}/api/v1/privacy/erasures`, { token: masterKey })
    ).body.erasures;
    assert.equal(job?.state, 'done', 'the jobs outlive a restart');
  });
});

describe('an erasure a stop interrupted', () => {
  const dir = tempDir();
  const key = newMasterKey();
  const [first, second] = [`user-${randomUUID()}`, `user-${randomUUID()}`];
  after(() => removeDir(dir));

  it('resumes when the server starts again, and the CLI erases on a store no server holds', async () => {
    let running = await startServer({ dataDir: dir, masterKey: key });
    for (const username of [first, second]) {
      const answer = await call(`${running.url}${CUSTOM_PATH}`, {
        token: key,
        body: { eventType: 'facet', eventValue: 'v', language: 'en', username },
      });
      assert.equal(answer.status, 200);
    }
    await running.close();
    // A job the last run had started (its identifier still kept, so that it can finish).
    const storage = await testStorage(dir);
    const id = randomUUID();
    await storage.upsert(PRIVACY_ERASURES, {
      id,
      org: 'default',
      kind: 'username',
      subjectHash: null,
      identifier: first,
      mode: 'anonymise',
      state: 'running',
      requestedAt: new Date(),
      requestedBy: 'master:master',
      coveredUntil: new Date(),
      startedAt: new Date(),
      finishedAt: null,
      found: null,
      removed: null,
      error: null,
    });
    await storage.close();
    running = await startServer({ dataDir: dir, masterKey: key });
    const job = await waitDone(id, running, key);
    assert.equal(job.found.events, 1);
    const names = (await readEvents(running)).map((e) => e.username);
    assert.ok(!names.includes(first) && names.includes(second));
    await running.close();
    if (testEngine() !== 'duckdb') return;
    // No server holds the DuckDB file: the CLI opens it and runs the job itself.
    const run = await openua(['privacy', 'erase', '--username', second], { OPENUA_DATA_DIR: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as Job).removed.events, 1);
    running = await startServer({ dataDir: dir, masterKey: key });
    assert.ok(!(await readEvents(running)).some((e) => e.username === second));
    await running.close();
  });
});

describe('events the store refused, set aside in the dead-letter file', () => {
  it('lose the person’s events of the organization, and keep everything else', async () => {
    const dir = tempDir();
    try {
      const log = await IngestLog.open(dir);
      const writer = new GroupCommit({} as Storage, log, {
        capacity: 1,
        batchSize: 1,
        lingerMs: 0,
        loadIntervalMs: 0,
      });
      const who = `user-${randomUUID()}`;
      const line = (events: object[]) =>
        `${JSON.stringify({ at: new Date(), position: { segment: 1, offset: 9 }, events })}\n`;
      writeFileSync(
        path.join(dir, 'dead-letter.jsonl'),
        line([
          { org: 'default', username: who },
          { org: 'default', username: 'kept' },
        ]) +
          line([{ org: 'default', customData: { note: `by ${who}` } }]) +
          line([{ org: 'elsewhere', username: who }]),
      );
      assert.equal(await writer.eraseDeadLettered('default', who), 2);
      const left = readFileSync(path.join(dir, 'dead-letter.jsonl'), 'utf8').trim().split('\n');
      assert.deepEqual(
        left.map((l) => (JSON.parse(l) as { events: object[] }).events),
        [[{ org: 'default', username: 'kept' }], [{ org: 'elsewhere', username: who }]],
      );
      assert.equal(await writer.eraseDeadLettered('default', who), 0);
      await log.close();
    } finally {
      removeDir(dir);
    }
  });
});
