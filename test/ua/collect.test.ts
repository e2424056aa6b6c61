import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';
import { postEvent, storedWhere, UA_PREFIXES } from '../helpers/ua.ts';

/**
 * `POST /analytics/collect`: measurement-protocol events as coveo.analytics sends them (captured from its
 * `coveoua('send', …)` with the ec and svc plugins): the known parameters land in their columns, and every
 * other key is kept as custom data.
 */

let server: TestServer;
let writeKey: string;
let impersonateKey: string;
serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
  impersonateKey = await createKey(server, ['analytics:write', 'analytics:impersonate']);
});

/** A pageview with an ecommerce purchase, shaped as the official client's ec plugin sends it. */
const purchase = (cid: string) => ({
  t: 'pageview',
  pid: randomUUID(),
  dl: 'http://shop.example.com/checkout',
  dr: 'http://shop.example.com/cart',
  dt: 'Checkout',
  tm: Date.now() - 60_000,
  z: randomUUID(),
  sr: '800x600',
  sd: '24-bit',
  ul: 'en-US',
  ua: 'Mozilla/5.0 (X11; Linux x86_64)',
  de: 'windows-1252',
  cid,
  uid: 'anonymous',
  aip: 1,
  searchHub: 'ShopHub',
  tab: 'All',
  searchUid: randomUUID(),
  contentIdKey: 'permanentid',
  contentId: 'sku-1',
  contentType: 'product',
  trackingId: 'shop_eu',
  pr1id: 'P1',
  pr1nm: 'Prod',
  pr1pr: 9.5,
  pr1qt: 2,
  pr1Color: 'red',
  il1pi1id: 'P2',
  il1nm: 'recs',
  pa: 'purchase',
  ti: 'T1',
  tr: 19,
  svc_ticket_custom: { x: 1 },
  custom: { Campaign: 'winter' },
});

describe('POST /collect', () => {
  it('keeps the known parameters in their columns and every other key as custom data', async () => {
    const cid = randomUUID();
    const sent = purchase(cid);
    const answer = await postEvent(server, 'collect', sent, writeKey);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, { visitId: answer.body.visitId, visitorId: cid, clientId: cid });
    const [stored] = await storedWhere(server, (e) => e.clientId === cid);
    assert.ok(stored);
    assert.deepEqual(
      {
        category: stored.category,
        eventType: stored.eventType,
        eventValue: stored.eventValue,
        eventTime: stored.eventTime,
        location: stored.location,
        referrer: stored.referrer,
        title: stored.title,
        language: stored.language,
        languageTag: stored.languageTag,
        userAgent: stored.userAgent,
        originLevel1: stored.originLevel1,
        originLevel2: stored.originLevel2,
        lastSearchQueryUid: stored.lastSearchQueryUid,
        contentIdKey: stored.contentIdKey,
        contentIdValue: stored.contentIdValue,
        contentType: stored.contentType,
        trackingId: stored.trackingId,
        username: stored.username,
        idempotencyKey: stored.idempotencyKey,
      },
      {
        category: 'collect',
        eventType: 'pageview',
        eventValue: 'purchase',
        eventTime: new Date(sent.tm).toISOString(),
        location: sent.dl,
        referrer: sent.dr,
        title: sent.dt,
        language: 'en',
        languageTag: 'en-US',
        userAgent: sent.ua,
        originLevel1: 'ShopHub',
        originLevel2: 'All',
        lastSearchQueryUid: sent.searchUid,
        contentIdKey: 'permanentid',
        contentIdValue: 'sku-1',
        contentType: 'product',
        trackingId: 'shop_eu',
        username: 'anonymous',
        idempotencyKey: sent.z,
      },
    );
    assert.deepEqual(stored.customData, {
      pid: sent.pid,
      sr: '800x600',
      sd: '24-bit',
      de: 'windows-1252',
      aip: '1',
      pr1id: 'P1',
      pr1nm: 'Prod',
      pr1pr: '9.5',
      pr1qt: '2',
      pr1color: 'red',
      il1pi1id: 'P2',
      il1nm: 'recs',
      pa: 'purchase',
      ti: 'T1',
      tr: '19',
      svc_ticket_custom: '{"x":1}',
      campaign: 'winter',
    });
  });

  it('an event hit takes its action as the value, and category and label as custom data', async () => {
    const cid = randomUUID();
    const hit = { t: 'event', ec: 'video', ea: 'play', el: 'intro', ev: '5', ul: 'en', cid };
    for (const prefix of UA_PREFIXES) {
      assert.equal((await postEvent(server, 'collect', hit, writeKey, prefix)).status, 200);
    }
    const stored = await storedWhere(server, (e) => e.clientId === cid);
    assert.equal(stored.length, 2, 'stored under both prefixes');
    assert.equal(stored[0]?.eventType, 'event');
    assert.equal(stored[0]?.eventValue, 'play');
    assert.deepEqual(stored[0]?.customData, { ec: 'video', ea: 'play', el: 'intro', ev: '5' });
  });

  it('a beacon carries the token and the event in its form body', async () => {
    const cid = randomUUID();
    const form = new URLSearchParams({
      access_token: writeKey,
      collectEvent: JSON.stringify({ t: 'pageview', dl: 'http://x/', ul: 'en', cid }),
    });
    const answer = await call(
      `${server.url}${UA_PREFIXES[1]}/collect?visitorId=${cid}&discardVisitInfo=true`,
      {
        raw: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((await storedWhere(server, (e) => e.clientId === cid)).length, 1);
  });

  it('refuses a hit without a type, and bad known parameters, naming each as sent', async () => {
    const answer = await postEvent(server, 'collect', {
      dl: 'x',
      cid: 'GA1.2.3',
      ul: 'klingon',
      tm: 'yesterday',
      trackingId: 'Shop EU',
      'bad key!': 1,
    });
    const violations = violationsOf(answer);
    assert.deepEqual(violations.map((v) => [v.field, v.rule]).sort(), [
      ['bad key!', 'keyCharacters'],
      ['cid', 'format'],
      ['t', 'required'],
      ['tm', 'type'],
      ['trackingId', 'pattern'],
      ['ul', 'format'],
    ]);
    assert.equal(violations.find((v) => v.field === 'cid')?.received, 'GA1.2.3');
  });

  it('a user id needs analytics:impersonate, except the "anonymous" the official client sends', async () => {
    const body = errorOf(
      await postEvent(server, 'collect', { t: 'pageview', ul: 'en', uid: 'erin' }, writeKey),
      403,
      'FORBIDDEN',
    );
    assert.deepEqual(
      body.violations?.map((v) => v.field),
      ['uid'],
    );
    const cid = randomUUID();
    assert.equal(
      (await postEvent(server, 'collect', { t: 'pageview', ul: 'en', uid: 'erin', cid }, impersonateKey))
        .status,
      200,
    );
    const [stored] = await storedWhere(server, (e) => e.clientId === cid);
    assert.equal(stored?.username, 'erin');
  });

  it('without cid, the visitor comes from the cookie or a new one, as for every event', async () => {
    const answer = await postEvent(server, 'collect', { t: 'pageview', ul: 'en' }, writeKey);
    assert.equal(answer.status, 200);
    const cookie = answer.headers.get('set-cookie') ?? '';
    assert.match(cookie, new RegExp(`coveo_visitorId=${answer.body.visitorId}`));
    const again = await call(`${server.url}${UA_PREFIXES[0]}/collect`, {
      token: writeKey,
      body: { t: 'pageview', ul: 'en' },
      headers: { cookie: cookie.split(';')[0] as string },
    });
    assert.equal(again.body.visitorId, answer.body.visitorId);
    assert.equal(again.body.visitId, answer.body.visitId);
  });
});

describe('collect has the rules of every other kind', () => {
  /** A collect hit in each body shape the official client sends: JSON, text/plain and a beacon. */
  const inEveryShape = async (hit: Record<string, unknown>) => {
    const path = `${server.url}${UA_PREFIXES[0]}/collect`;
    const json = await call(path, { token: writeKey, body: hit });
    const text = await call(path, {
      token: writeKey,
      raw: JSON.stringify(hit),
      headers: { 'content-type': 'text/plain' },
    });
    const form = await call(`${path}?access_token=${encodeURIComponent(writeKey)}`, {
      raw: new URLSearchParams({ collectEvent: JSON.stringify(hit) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    return { json, text, form };
  };

  it('no body shape stores a hit type other than the one sent: never an empty eventType', async () => {
    const cid = randomUUID();
    for (const t of ['\ufeff', '\ufeffpageview']) {
      for (const answer of Object.values(await inEveryShape({ t, ul: 'en', cid }))) {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    }
    const stored = await storedWhere(server, (e) => e.clientId === cid);
    assert.deepEqual(stored.map((e) => e.eventType).sort(), [
      '\ufeff',
      '\ufeff',
      '\ufeff',
      '\ufeffpageview',
      '\ufeffpageview',
      '\ufeffpageview',
    ]);
    // An empty hit type is refused in every shape.
    const cidEmpty = randomUUID();
    for (const answer of Object.values(await inEveryShape({ t: '', ul: 'en', cid: cidEmpty }))) {
      assert.deepEqual(
        violationsOf(answer).map((v) => [v.field, v.rule]),
        [['t', 'minLength']],
      );
    }
    assert.equal((await storedWhere(server, (e) => e.clientId === cidEmpty)).length, 0);
  });

  it('the action that becomes eventValue (ea, pa, svc_action) is 1–128 characters, as eventValue is', async () => {
    const cid = randomUUID();
    for (const parameter of ['ea', 'pa', 'svc_action']) {
      for (const answer of Object.values(
        await inEveryShape({ t: 'event', ul: 'en', cid, [parameter]: 'a'.repeat(39_999) }),
      )) {
        assert.deepEqual(
          violationsOf(answer).map((v) => [v.field, v.rule, v.limit]),
          [[parameter, 'maxLength', 128]],
        );
      }
      const empty = await postEvent(server, 'collect', { t: 'event', ul: 'en', cid, [parameter]: '' });
      assert.deepEqual(
        violationsOf(empty).map((v) => [v.field, v.rule]),
        [[parameter, 'minLength']],
      );
      const control = await postEvent(server, 'collect', {
        t: 'event',
        ul: 'en',
        cid,
        [parameter]: 'x\u0001',
      });
      assert.deepEqual(
        violationsOf(control).map((v) => [v.field, v.rule]),
        [[parameter, 'format']],
      );
    }
    assert.equal((await storedWhere(server, (e) => e.clientId === cid)).length, 0);
    const ok = await postEvent(
      server,
      'collect',
      { t: 'event', ul: 'en', cid, ea: 'a'.repeat(128) },
      writeKey,
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const [stored] = await storedWhere(server, (e) => e.clientId === cid);
    assert.equal(stored?.eventValue, 'a'.repeat(128));
  });

  it('the language (ul) is required, as language is on every other kind', async () => {
    const cid = randomUUID();
    for (const answer of Object.values(await inEveryShape({ t: 'pageview', cid }))) {
      assert.deepEqual(
        violationsOf(answer).map((v) => [v.field, v.rule]),
        [['ul', 'required']],
      );
    }
    assert.equal((await storedWhere(server, (e) => e.clientId === cid)).length, 0);
  });

  it('the hit type and the other identifiers refuse control characters', async () => {
    const answer = await postEvent(server, 'collect', {
      t: 'page\u0001view',
      ul: 'en',
      searchHub: 'hub\u007f',
      z: 'id\u0000',
    });
    // NUL is refused before any field rule, wherever it is.
    assert.deepEqual(
      violationsOf(answer).map((v) => [v.field, v.rule]),
      [['z', 'nul']],
    );
    const controls = await postEvent(server, 'collect', {
      t: 'page\u0001view',
      ul: 'en',
      searchHub: 'hub\u007f',
    });
    assert.deepEqual(
      violationsOf(controls)
        .map((v) => [v.field, v.rule])
        .sort(),
      [
        ['searchHub', 'format'],
        ['t', 'format'],
      ],
    );
  });
});
