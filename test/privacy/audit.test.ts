import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { AUDIT_LOG, type AuditEntry } from '../../src/privacy/audit-log.ts';
import { eventually } from '../helpers/alerts.ts';
import { openua, openuaJson } from '../helpers/cli.ts';
import { testStorage } from '../helpers/engine.ts';
import { call, createKey, removeDir, serverForSuite, type TestServer, tempDir } from '../helpers/server.ts';

/** The audit log: each admin and privacy action lands once, readable by the organization's admins alone. */

type Shown = Omit<AuditEntry, 'at'> & { at: string };
type Page = { entries: Shown[]; next: string | null };

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const keyIdOf = (key: string) => key.split('_')[1] as string;

describe('the audit log over HTTP', () => {
  let server: TestServer;
  serverForSuite((s) => {
    server = s;
  });

  const audit = (query: Record<string, string>, token = server.masterKey) =>
    call<Page & { violations?: { field: string; rule: string; received?: unknown }[] }>(
      `${server.url}/api/v1/audit?${new URLSearchParams(query)}`,
      { token },
    );
  const entriesOf = async (query: Record<string, string>, token?: string) => {
    const answer = await audit(query, token);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.entries;
  };

  /** An organization, an admin key of it (made by the master key), and what that key then did. */
  let org: string;
  let adminKey: string;
  let otherKeyId: string;
  before(async () => {
    org = unique('audited');
    const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: org } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    adminKey = await createKey(server, ['admin'], org);
    const patched = await call(`${server.url}/api/v1/orgs/${org}`, {
      method: 'PATCH',
      token: adminKey,
      body: { dedupWindowDays: 3, name: 'Audited' },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const other = await call<{ id: string }>(`${server.url}/api/v1/orgs/${org}/keys`, {
      token: adminKey,
      body: { name: 'reader', privileges: ['analytics:read'] },
    });
    assert.equal(other.status, 201);
    otherKeyId = other.body.id;
    const revoked = await call(`${server.url}/api/v1/orgs/${org}/keys/${otherKeyId}`, {
      method: 'DELETE',
      token: adminKey,
    });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  });

  it('holds each admin action once, with its actor, target and details, newest first', async () => {
    const entries = await entriesOf({ org });
    const adminId = keyIdOf(adminKey);
    const shape = entries.map((e) => [e.action, e.actorKind, e.actorId, e.target]);
    assert.deepEqual(shape, [
      ['key.revoke', 'apiKey', adminId, otherKeyId],
      ['key.create', 'apiKey', adminId, otherKeyId],
      ['org.update', 'apiKey', adminId, org],
      ['key.create', 'master', 'master', adminId],
      ['org.create', 'master', 'master', org],
    ]);
    const [revoke, create, update, firstKey] = entries;
    assert.deepEqual(update?.details, { settings: { dedupWindowDays: 3, name: 'Audited' } });
    assert.deepEqual(create?.details, { name: 'reader', privileges: ['analytics:read'] });
    assert.deepEqual(revoke?.details, { name: 'reader' });
    assert.ok(entries.every((e) => e.org === org && e.subjectHash === null && e.subjectKind === null));
    assert.ok(!Number.isNaN(Date.parse(firstKey?.at ?? '')));
    assert.ok(!JSON.stringify(entries).includes(adminKey.split('_')[2] as string), 'never a key’s secret');
  });

  it('is read with `admin` only, and only the credential’s own organization', async () => {
    // In an organization of its own, so the audited one's log stays as the other tests expect it.
    const stranger = unique('stranger');
    await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: stranger } });
    const reader = await createKey(server, ['analytics:read', 'analytics:write'], stranger);
    assert.equal((await audit({}, reader)).status, 403);
    const strangerAdmin = await createKey(server, ['admin'], stranger);
    const theirs = await entriesOf({}, strangerAdmin);
    assert.ok(theirs.length > 0, 'their own creation is there');
    assert.ok(theirs.every((e) => e.org === stranger));
    assert.equal((await audit({ org }, strangerAdmin)).status, 403, 'another organization, named');
  });

  it('filters by action, actor and time, and pages with `before`', async () => {
    const keys = await entriesOf({ org, action: 'key.create' });
    assert.deepEqual(
      keys.map((e) => e.target),
      [otherKeyId, keyIdOf(adminKey)],
    );
    const byMaster = await entriesOf({ org, actorId: 'master' });
    assert.deepEqual(
      byMaster.map((e) => e.action),
      ['key.create', 'org.create'],
    );
    const all = await entriesOf({ org });
    const oldest = all.at(-1) as Shown;
    const newest = all[0] as Shown;
    assert.deepEqual(await entriesOf({ org, to: oldest.at }), [], '`to` is exclusive');
    assert.equal((await entriesOf({ org, from: newest.at })).at(-1)?.at, newest.at, '`from` is inclusive');
    assert.equal((await entriesOf({ org, from: new Date(Date.now() + 60_000).toISOString() })).length, 0);

    const walked: string[] = [];
    let before: string | null = null;
    do {
      const page: Page = (await audit({ org, limit: '2', ...(before ? { before } : {}) })).body;
      assert.ok(page.entries.length <= 2);
      walked.push(...page.entries.map((e) => e.id));
      before = page.next;
    } while (before);
    assert.deepEqual(
      walked,
      all.map((e) => e.id),
    );
  });

  it('finds a person’s entries by keyed hash, and never holds the identifier in clear', async () => {
    const person = `someone-${randomUUID()}`;
    const recorded = await server.services.audit.record({
      org,
      actor: { kind: 'system', id: 'test' },
      action: 'erasure.request',
      subject: { kind: 'username', value: person },
      target: 'job-1',
      // A caller's slip: the identifier inside details is not kept either.
      details: { note: `asked by ${person}`, mode: 'delete' },
    });
    assert.match(recorded.subjectHash ?? '', /^hmac-sha256:[0-9a-f]{64}$/);

    const found = await entriesOf({ org, subjectKind: 'username', subject: person });
    assert.deepEqual(
      found.map((e) => e.id),
      [recorded.id],
    );
    assert.deepEqual(await entriesOf({ org, subjectKind: 'clientId', subject: person }), [], 'another kind');
    assert.deepEqual(await entriesOf({ org, subjectKind: 'username', subject: `${person}x` }), []);

    // Raw, as the store holds it: no column of any entry holds the identifier.
    const rows = await server.services.storage.find(AUDIT_LOG, { org });
    assert.ok(rows.some((row) => row.id === recorded.id));
    assert.ok(!JSON.stringify(rows).includes(person), JSON.stringify(rows.find((r) => r.id === recorded.id)));
    assert.deepEqual(rows.find((r) => r.id === recorded.id)?.details, { note: '[subject]', mode: 'delete' });

    // Keyed per organization: the same person hashes differently elsewhere.
    const elsewhere = await server.services.audit.subjectHash('default', { kind: 'username', value: person });
    assert.notEqual(elsewhere, recorded.subjectHash);
  });

  it('holds an erasure, requested and done, found by the person it was about', async () => {
    const person = `erased-${randomUUID()}`;
    const sent = await call(`${server.url}/rest/ua/v15/analytics/custom`, {
      token: await createKey(server, ['analytics:write', 'analytics:impersonate'], org),
      body: { eventType: 'facet', eventValue: 'v', language: 'en', username: person },
    });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const asked = await call<{ id: string }>(`${server.url}/api/v1/privacy/erasures`, {
      token: adminKey,
      body: { username: person },
    });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const about = { org, subjectKind: 'username', subject: person };
    const entries = await eventually(async () => {
      const found = await entriesOf(about);
      return found.some((e) => e.action === 'erasure.complete') ? found : undefined;
    }, 'the erasure to complete');
    assert.deepEqual(
      entries.map((e) => [e.action, e.actorKind, e.actorId, e.target]),
      [
        ['erasure.complete', 'system', 'erasure', asked.body.id],
        ['erasure.request', 'apiKey', keyIdOf(adminKey), asked.body.id],
      ],
    );
    assert.ok((entries[0]?.rows ?? 0) >= 1, 'the event it removed');
    const rows = await server.services.storage.find(AUDIT_LOG, { org });
    assert.ok(!JSON.stringify(rows).includes(person), 'the log never held the identifier');
  });

  it('refuses a half subject filter and a limit out of range, by field and rule', async () => {
    const half = await audit({ org, subject: 'x' });
    assert.equal(half.status, 400);
    assert.deepEqual(
      half.body.violations?.map((v) => [v.field, v.rule]),
      [['subjectKind', 'required']],
    );
    const big = await audit({ org, limit: '1001' });
    assert.equal(big.status, 400);
    assert.equal(big.body.violations?.[0]?.field, 'limit');
    const action = await audit({ org, action: 'key.delete' });
    assert.equal(action.status, 400);
    assert.equal(action.body.violations?.[0]?.field, 'action');
  });

  it('has no route that changes or deletes an entry', async () => {
    const [entry] = await entriesOf({ org, limit: '1' });
    for (const method of ['PATCH', 'PUT', 'DELETE']) {
      const one = await call(`${server.url}/api/v1/audit/${entry?.id}`, {
        method,
        token: server.masterKey,
        ...(method === 'DELETE' ? {} : { body: {} }),
      });
      assert.equal(one.status, 404, `${method} one entry`);
      const all = await call(`${server.url}/api/v1/audit`, { method, token: server.masterKey });
      assert.equal(all.status, 404, `${method} the log`);
    }
    assert.deepEqual(
      (await entriesOf({ org, limit: '1' })).map((e) => e.id),
      [entry?.id],
    );
  });
});

describe('the audit log from the CLI', () => {
  const dataDir = tempDir('openua-audit-');
  const env = { OPENUA_DATA_DIR: dataDir };
  after(() => removeDir(dataDir));

  it('records local admin commands with the OS user, and `openua audit` reads and filters them', async () => {
    await openuaJson(['org', 'create', 'acme'], env);
    const key = await openuaJson<{ id: string }>(
      ['key', 'create', '--org', 'acme', '--name', 'web', '--privileges', 'analytics:write'],
      env,
    );
    await openuaJson(['org', 'update', 'acme', '--dedup-window-days', '2'], env);
    await openuaJson(['key', 'revoke', key.id, '--org', 'acme'], env);

    const page = await openuaJson<Page>(['audit', '--org', 'acme'], env);
    assert.deepEqual(
      page.entries.map((e) => [e.action, e.actorKind, e.actorId, e.target]),
      [
        ['key.revoke', 'cli', userInfo().username, key.id],
        ['org.update', 'cli', userInfo().username, 'acme'],
        ['key.create', 'cli', userInfo().username, key.id],
        ['org.create', 'cli', userInfo().username, 'acme'],
      ],
    );
    assert.deepEqual(page.entries[1]?.details, { settings: { dedupWindowDays: 2 } });
    const keys = await openuaJson<Page>(['audit', '--org', 'acme', '--action', 'key.create'], env);
    assert.deepEqual(
      keys.entries.map((e) => e.target),
      [key.id],
    );
    const none = await openuaJson<Page>(['audit', '--org', 'default', '--action', 'key.create'], env);
    assert.deepEqual(none.entries, [], 'another organization’s log');
  });

  it('refuses what the route refuses, naming the field', async () => {
    const run = await openua(['audit', '--org', 'acme', '--subject', 'someone'], env);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /subjectKind/);
    const limit = await openua(['audit', '--org', 'acme', '--limit', '0'], env);
    assert.notEqual(limit.code, 0);
    assert.match(limit.stderr, /limit/);
  });

  it('reads the log a server holds over HTTP with --server', async () => {
    const { startServer } = await import('../helpers/server.ts');
    const server = await startServer();
    try {
      const org = unique('remote');
      await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: org } });
      const page = await openuaJson<Page>(['audit', '--org', org, '--server', server.url], {
        OPENUA_MASTER_KEY: server.masterKey,
      });
      assert.deepEqual(
        page.entries.map((e) => [e.action, e.actorKind]),
        [['org.create', 'master']],
      );
    } finally {
      await server.close();
      removeDir(server.dataDir);
    }
  });

  it('is kept in the store the CLI opened', async () => {
    const storage = await testStorage(dataDir);
    try {
      const rows = await storage.find(AUDIT_LOG, { org: 'acme' });
      assert.equal(rows.length, 4);
    } finally {
      await storage.close();
    }
  });
});
