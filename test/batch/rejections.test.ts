import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/** Rejected events are kept: listed by time, route and rule, and counted by rule, per organization. */

interface Listed {
  count: number;
  rejections: {
    id: string;
    route: string;
    item: number | null;
    receivedAt: string;
    credentialId: string;
    payload: string;
    payloadBytes: number;
    violations: { field: string; rule: string; received?: unknown }[];
    rules: string[];
  }[];
}

let server: TestServer;
let writeKey: string;
let writeKeyId: string;
let readKey: string;
serverForSuite(
  async (started) => {
    server = started;
    const created = await call<{ key: string; id: string }>(`${server.url}/api/v1/orgs/default/keys`, {
      token: server.masterKey,
      body: { name: 'page', privileges: ['analytics:write'] },
    });
    writeKey = created.body.key;
    writeKeyId = created.body.id;
    readKey = await createKey(server, ['analytics:read']);
  },
  { env: { OPENUA_REJECTED_PAYLOAD_BYTES: '1024' } },
);

const list = (query = '', token = readKey) =>
  call<Listed>(`${server.url}/api/v1/rejections${query ? `?${query}` : ''}`, { token });
const counts = (query = '', token = readKey) =>
  call<{ counts: { rule: string; count: number }[] }>(
    `${server.url}/api/v1/rejections/counts${query ? `?${query}` : ''}`,
    { token },
  );

describe('rejections', () => {
  const marker = randomUUID();
  let since: string;

  it('keeps each rejected batch item and each refused single event, with who, where, when and why', async () => {
    since = new Date().toISOString();
    const batch = await call(`${server.url}/api/v1/events/batch`, {
      token: writeKey,
      body: {
        events: [
          { kind: 'custom', ...validCustomEvent({ eventType: marker }) },
          { kind: 'custom', ...validCustomEvent({ eventType: marker, outcome: 9 }) },
          { kind: 'search', marker },
        ],
      },
    });
    assert.equal(batch.status, 200);
    const single = await call(`${server.url}${CUSTOM_PATH}`, {
      token: writeKey,
      body: validCustomEvent({ eventType: marker, language: 'klingon', outcome: 7 }),
    });
    violationsOf(single);

    const answer = await list(`from=${since}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const mine = answer.body.rejections.filter((r) => r.payload.includes(marker));
    assert.equal(mine.length, 3, JSON.stringify(answer.body));
    const [fromSingle, ...fromBatch] = mine; // newest first
    assert.equal(fromSingle?.route, '/rest/ua/v15/analytics/custom');
    assert.equal(fromSingle?.item, null);
    assert.deepEqual(fromSingle?.rules.sort(), ['format', 'maximum']);
    assert.deepEqual(JSON.parse(fromSingle?.payload ?? '').language, 'klingon', 'the payload as received');
    assert.equal(fromSingle?.credentialId, writeKeyId, 'the key that sent it');
    assert.ok(
      fromBatch.every((r) => r.credentialId === writeKeyId),
      'batch items name it too',
    );
    assert.deepEqual(fromBatch.map((r) => [r.route, r.item]).sort(), [
      ['/api/v1/events/batch', 1],
      ['/api/v1/events/batch', 2],
    ]);
    const item1 = fromBatch.find((r) => r.item === 1);
    assert.deepEqual(
      item1?.violations.map((v) => [v.field, v.rule, v.received]),
      [['outcome', 'maximum', 9]],
    );
    assert.ok(answer.body.count >= 3);
  });

  it('filters by route, rule and time', async () => {
    const byRoute = await list(`from=${since}&route=/api/v1/events/batch`);
    assert.ok(byRoute.body.rejections.length >= 2);
    assert.ok(byRoute.body.rejections.every((r) => r.route === '/api/v1/events/batch'));
    const byRule = await list(`from=${since}&rule=maximum`);
    assert.ok(byRule.body.rejections.length >= 2);
    assert.ok(byRule.body.rejections.every((r) => r.rules.includes('maximum')));
    const before = await list(`to=${since}&rule=maximum`);
    assert.ok(before.body.rejections.every((r) => Date.parse(r.receivedAt) < Date.parse(since)));
    const none = await list(`from=${since}&rule=no-such-rule`);
    assert.deepEqual(none.body, { count: 0, rejections: [] });
  });

  it('counts by rule', async () => {
    const answer = await counts(`from=${since}`);
    assert.equal(answer.status, 200);
    const byRule = Object.fromEntries(answer.body.counts.map((c) => [c.rule, c.count]));
    assert.ok((byRule.maximum ?? 0) >= 2, JSON.stringify(answer.body));
    assert.ok((byRule.required ?? 0) >= 1);
    assert.ok((byRule.format ?? 0) >= 1);
    const sorted = answer.body.counts.map((c) => c.count);
    assert.deepEqual(
      sorted,
      [...sorted].sort((a, b) => b - a),
      'most frequent first',
    );
    const batchOnly = await counts(`from=${since}&route=/api/v1/events/batch`);
    assert.equal(Object.fromEntries(batchOnly.body.counts.map((c) => [c.rule, c.count])).format, undefined);
  });

  it("caps the payload, keeping its full size, and never keeps a beacon's token", async () => {
    const big = validCustomEvent({ eventType: 'x'.repeat(200), customData: { pad: 'é'.repeat(2000) } });
    await call(`${server.url}${CUSTOM_PATH}`, { token: writeKey, body: big });
    const form = new URLSearchParams({
      access_token: writeKey,
      customEvent: JSON.stringify({ eventType: 'beacon-refused' }),
    });
    await call(`${server.url}${CUSTOM_PATH}`, {
      raw: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const { rejections } = (await list(`from=${since}&rule=maxLength`)).body;
    const capped = rejections.find((r) => r.payloadBytes > 1024);
    assert.ok(capped, JSON.stringify(rejections.map((r) => r.payloadBytes)));
    assert.ok(Buffer.byteLength(capped.payload) <= 1024);
    assert.equal(capped.payloadBytes, Buffer.byteLength(JSON.stringify(big)));
    const beacon = (await list(`from=${since}&rule=required`)).body.rejections.find((r) =>
      r.payload.includes('beacon-refused'),
    );
    assert.ok(beacon);
    assert.ok(!beacon.payload.includes(writeKey), 'the token is removed');
  });

  it('needs analytics:read, and shows only the organization of the credential', async () => {
    errorOf(await list('', ''), 401, 'UNAUTHENTICATED');
    errorOf(await list('', writeKey), 403, 'FORBIDDEN');
    await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'rejections-other' } });
    const otherReader = await createKey(server, ['analytics:read'], 'rejections-other');
    assert.deepEqual((await list('', otherReader)).body, { count: 0, rejections: [] });
    assert.deepEqual((await counts('', otherReader)).body, { counts: [] });
    errorOf(await list('org=default', otherReader), 403, 'FORBIDDEN');
    const bad = violationsOf(await list('from=yesterday&limit=0&colour=red'));
    assert.deepEqual(bad.map((v) => [v.field, v.rule]).sort(), [
      ['colour', 'unknownField'],
      ['from', 'format'],
      ['limit', 'pattern'],
    ]);
  });

  it('keeps them for the retention setting: older ones are swept', async () => {
    const { rejections } = server.services;
    await rejections.flush();
    const before = (await list()).body.count;
    assert.ok(before > 0);
    assert.equal(
      await rejections.sweep(new Date(Date.now() + 29 * 86_400_000)),
      0,
      'none is 30 days old yet',
    );
    const patched = await call(`${server.url}/api/v1/orgs/default`, {
      method: 'PATCH',
      token: server.masterKey,
      body: { rejectionRetentionDays: 1 },
    });
    assert.equal(patched.body.rejectionRetentionDays, 1);
    assert.equal(await rejections.sweep(new Date(Date.now() + 2 * 86_400_000)), before);
    assert.equal((await list()).body.count, 0);
  });
});
