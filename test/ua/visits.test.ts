import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { newEventId } from '../../src/model/event-id.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { resolveVisitor, VisitTracker } from '../../src/ua/visits.ts';
import { testStorage } from '../helpers/engine.ts';
import { violationsOf } from '../helpers/errors.ts';
import { canonicalEvent } from '../helpers/events.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  removeDir,
  startServer,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';

const MINUTE = 60_000;
const VISITOR = '5d1c0a34-8f1e-4b6c-9a2e-3b4c5d6e7f80';
const OTHER = '0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b';

describe('resolveVisitor', () => {
  it('clientId wins over everything', () => {
    const v = resolveVisitor({
      clientId: VISITOR,
      cookie: OTHER,
      visitorParam: OTHER,
      prioritizeVisitorParameter: true,
    });
    assert.deepEqual(v, { visitorId: VISITOR, clientId: VISITOR, isNew: false });
  });
  it('the cookie wins over ?visitor= unless prioritizeVisitorParameter=true', () => {
    assert.equal(
      resolveVisitor({ cookie: VISITOR, visitorParam: OTHER, prioritizeVisitorParameter: false }).visitorId,
      VISITOR,
    );
    assert.equal(
      resolveVisitor({ cookie: VISITOR, visitorParam: OTHER, prioritizeVisitorParameter: true }).visitorId,
      OTHER,
    );
  });
  it('a new visitor gets a fresh UUID', () => {
    const v = resolveVisitor({ prioritizeVisitorParameter: false });
    assert.equal(v.isNew, true);
    assert.match(v.visitorId, /^[0-9a-f-]{36}$/);
    assert.notEqual(v.visitorId, resolveVisitor({ prioritizeVisitorParameter: false }).visitorId);
  });
  it('values that are not UUIDs are not trusted', () => {
    const v = resolveVisitor({
      cookie: 'forged',
      visitorParam: 'also forged',
      prioritizeVisitorParameter: false,
    });
    assert.equal(v.isNew, true);
  });
});

describe('VisitTracker over a real store', () => {
  let dir: string;
  let storage: Storage;
  before(async () => {
    dir = tempDir();
    storage = await testStorage(dir);
    await storage.migrate([]);
  });
  after(async () => {
    await storage.close();
    removeDir(dir);
  });

  /** A visitor's event stored `ago` ms back, as if before a restart; answers its visit. */
  async function storeVisit(org: string, ago: number): Promise<string> {
    const receivedTime = new Date(Date.now() - ago);
    const visitId = newEventId();
    const event = {
      org,
      clientId: VISITOR,
      visitorId: VISITOR,
      visitId,
      receivedTime,
      derivedTime: receivedTime,
    };
    await storage.appendEvents([canonicalEvent(event)]);
    return visitId;
  }

  it('keeps one visit while events come within 30 minutes, and opens a new one after', async () => {
    const tracker = new VisitTracker(storage, 30 * MINUTE);
    const t0 = new Date('2026-01-01T10:00:00Z');
    const first = await tracker.visit('o', VISITOR, t0, false);
    const at29 = await tracker.visit('o', VISITOR, new Date(t0.getTime() + 29 * MINUTE), false);
    const at58 = await tracker.visit('o', VISITOR, new Date(t0.getTime() + 58 * MINUTE), false);
    const after31Quiet = await tracker.visit('o', VISITOR, new Date(t0.getTime() + 89 * MINUTE), false);
    tracker.close();
    assert.equal(at29, first);
    assert.equal(at58, first, 'the 30 minutes count from the latest event, not the first');
    assert.notEqual(after31Quiet, first);
  });

  it('visits are per organization and per visitor', async () => {
    const tracker = new VisitTracker(storage, 30 * MINUTE);
    const at = new Date();
    const a = await tracker.visit('o1', VISITOR, at, false);
    assert.notEqual(await tracker.visit('o2', VISITOR, at, false), a);
    assert.notEqual(await tracker.visit('o1', OTHER, at, false), a);
    tracker.close();
  });

  it('an ended visit is not resumed, not even from the store, and the next event opens a new one', async () => {
    const visitId = await storeVisit('ending', MINUTE);
    const tracker = new VisitTracker(storage, 30 * MINUTE);
    assert.equal(
      await tracker.end('ending', VISITOR, new Date()),
      visitId,
      'the stored open visit is the one ended',
    );
    const next = await tracker.visit('ending', VISITOR, new Date(), false);
    assert.notEqual(next, visitId);
    assert.equal(
      await tracker.visit('ending', VISITOR, new Date(), false),
      next,
      'the new visit then goes on',
    );
    assert.equal(
      await tracker.end('ending', OTHER, new Date()),
      undefined,
      'a visitor without a visit has none to end',
    );
    tracker.close();
  });

  it('a new tracker (a restart) continues the visit of the last stored event', async () => {
    const visitId = await storeVisit('restart', 10 * MINUTE);
    const tracker = new VisitTracker(storage, 30 * MINUTE);
    assert.equal(await tracker.visit('restart', VISITOR, new Date(), false), visitId);
    const shortTracker = new VisitTracker(storage, 5 * MINUTE);
    assert.notEqual(await shortTracker.visit('restart', VISITOR, new Date(), false), visitId);
    tracker.close();
    shortTracker.close();
  });
});

describe('visits over HTTP', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
    removeDir(server.dataDir);
  });
  const post = (query = '', headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
    call(`${server.url}${CUSTOM_PATH}${query}`, {
      token: server.masterKey,
      body: validCustomEvent(extra),
      headers,
    });

  it('a new visitor gets a visitor cookie, which the page may read, and the same ids in the body', async () => {
    const answer = await post();
    assert.equal(answer.status, 200);
    const cookie = answer.headers.get('set-cookie') ?? '';
    assert.match(cookie, new RegExp(`coveo_visitorId=${answer.body.visitorId}`));
    // The official browser client keeps its visitor in this very cookie (test/browser/visitor-cookie.test.ts).
    assert.doesNotMatch(cookie, /HttpOnly/i);
    assert.match(cookie, /Path=\//);
    assert.match(cookie, /SameSite=Lax/i);
    assert.equal(answer.body.clientId, answer.body.visitorId);
  });

  it('the cookie keeps the visitor and the visit', async () => {
    const first = await post();
    const cookie = `coveo_visitorId=${first.body.visitorId}`;
    const second = await post('', { cookie });
    assert.equal(second.body.visitorId, first.body.visitorId);
    assert.equal(second.body.visitId, first.body.visitId);
    assert.equal(second.headers.get('set-cookie'), null, 'an unchanged cookie is not sent again');
  });

  it('?visitor= names the visitor; the cookie wins unless prioritizeVisitorParameter=true', async () => {
    const viaParam = await post(`?visitor=${VISITOR}`);
    assert.equal(viaParam.body.visitorId, VISITOR);
    const cookieWins = await post(`?visitor=${VISITOR}`, { cookie: `coveo_visitorId=${OTHER}` });
    assert.equal(cookieWins.body.visitorId, OTHER);
    const paramWins = await post(`?visitor=${VISITOR}&prioritizeVisitorParameter=true`, {
      cookie: `coveo_visitorId=${OTHER}`,
    });
    assert.equal(paramWins.body.visitorId, VISITOR);
  });

  it('no cookie is set for a client that names itself with clientId', async () => {
    const answer = await post('', {}, { clientId: VISITOR });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('set-cookie'), null);
  });

  it('clientId in the body wins over the cookie and the parameter', async () => {
    const clientId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
    const answer = await post(`?visitor=${VISITOR}`, { cookie: `coveo_visitorId=${OTHER}` }, { clientId });
    assert.deepEqual([answer.body.visitorId, answer.body.clientId], [clientId, clientId]);
  });

  it('the same visitor keeps its visit across requests; another visitor gets another', async () => {
    const a1 = await post('', {}, { clientId: VISITOR });
    const a2 = await post('', {}, { clientId: VISITOR });
    const b = await post('', {}, { clientId: OTHER });
    assert.equal(a1.body.visitId, a2.body.visitId);
    assert.notEqual(b.body.visitId, a1.body.visitId);
  });

  const visitUrl = (query = '', prefix = '/rest/ua/v15/analytics') => `${server.url}${prefix}/visit${query}`;

  it('GET /visit answers the visit events of the same visitor are in, under both prefixes', async () => {
    const clientId = randomUUID();
    const event = await post('', {}, { clientId });
    for (const prefix of ['/rest/ua/v15/analytics', '/rest/v15/analytics']) {
      const visit = await call(visitUrl(`?clientId=${clientId}`, prefix), { token: server.masterKey });
      assert.equal(visit.status, 200, JSON.stringify(visit.body));
      assert.deepEqual(visit.body, { id: event.body.visitId, visitorId: clientId, clientId });
    }
  });

  it('GET /visit finds the visitor by its cookie, and opens the visit the next event joins', async () => {
    const visit = await call(visitUrl(), { token: server.masterKey });
    assert.equal(visit.status, 200);
    const cookie = (visit.headers.get('set-cookie') ?? '').split(';')[0] as string;
    assert.equal(cookie, `coveo_visitorId=${visit.body.visitorId}`);
    const event = await post('', { cookie });
    assert.equal(event.body.visitorId, visit.body.visitorId);
    assert.equal(event.body.visitId, visit.body.id);
    const again = await call(visitUrl(), { token: server.masterKey, headers: { cookie } });
    assert.equal(again.body.id, visit.body.id);
  });

  it('DELETE /visit forgets the cookie and ends the visit: the next event starts a new one', async () => {
    const first = await post();
    const cookie = `coveo_visitorId=${first.body.visitorId}`;
    const deleted = await call(visitUrl(), {
      method: 'DELETE',
      token: server.masterKey,
      headers: { cookie },
    });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body, { visitorId: first.body.visitorId, endedVisitId: first.body.visitId });
    assert.match(deleted.headers.get('set-cookie') ?? '', /coveo_visitorId=;.*Expires=Thu, 01 Jan 1970/);
    // A client that ignores the cleared cookie (or names itself by clientId) still gets a new visit.
    const next = await post('', { cookie });
    assert.equal(next.body.visitorId, first.body.visitorId);
    assert.notEqual(next.body.visitId, first.body.visitId);
  });

  it('DELETE /visit as the official client sends it (application/json, no body) ends the visit', async () => {
    const first = await post();
    const cookie = `coveo_visitorId=${first.body.visitorId}`;
    const deleted = await call(visitUrl(), {
      method: 'DELETE',
      token: server.masterKey,
      headers: { cookie, 'content-type': 'application/json' },
    });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(deleted.body, { visitorId: first.body.visitorId, endedVisitId: first.body.visitId });
  });

  it("DELETE /visit?clientId= ends that visitor's visit", async () => {
    const clientId = randomUUID();
    const first = await post('', {}, { clientId });
    const deleted = await call(visitUrl(`?clientId=${clientId}`), {
      method: 'DELETE',
      token: server.masterKey,
    });
    assert.equal(deleted.body.endedVisitId, first.body.visitId);
    assert.notEqual((await post('', {}, { clientId })).body.visitId, first.body.visitId);
    const nobody = await call(visitUrl(), { method: 'DELETE', token: server.masterKey });
    assert.deepEqual(nobody.body, { visitorId: null, endedVisitId: null });
  });

  it('the visit routes need analytics:write, refuse a clientId that is not a UUID, and keep organizations apart', async () => {
    const clientId = randomUUID();
    await post('', {}, { clientId });
    for (const method of ['GET', 'DELETE']) {
      assert.equal((await call(visitUrl(`?clientId=${clientId}`), { method })).status, 401, method);
      const reader = await createKey(server, ['analytics:read']);
      assert.equal(
        (await call(visitUrl(`?clientId=${clientId}`), { method, token: reader })).status,
        403,
        method,
      );
      const bad = await call(visitUrl('?clientId=not-a-uuid'), { method, token: server.masterKey });
      assert.deepEqual(
        violationsOf(bad).map((v) => [v.field, v.rule, v.received]),
        [['clientId', 'format', 'not-a-uuid']],
      );
    }
    await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'visits-other' } });
    const otherKey = await createKey(server, ['analytics:write'], 'visits-other');
    const ownVisit = (await call(visitUrl(`?clientId=${clientId}`), { token: server.masterKey })).body.id;
    const elsewhere = await call(visitUrl(`?clientId=${clientId}`), { token: otherKey });
    assert.equal(elsewhere.status, 200);
    assert.notEqual(elsewhere.body.id, ownVisit, 'another organization never sees this visit');
    const foreign = await call(visitUrl(`?clientId=${clientId}&org=default`), { token: otherKey });
    assert.equal(foreign.status, 403);
  });
});
