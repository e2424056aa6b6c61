import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { violationsOf } from '../helpers/errors.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  readEvents,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';

/**
 * Every field rule of the v15 custom event (shared/reference/coveo-ua.md §2), each accepted at its limit
 * and rejected one past it, through the real HTTP route.
 */

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const post = (event: unknown, token = server.masterKey) =>
  call(`${server.url}${CUSTOM_PATH}`, { token, body: event });

function assertOnlyViolation(answer: Answer, field: string, rule: string, received?: unknown) {
  const violations = violationsOf(answer);
  assert.deepEqual(
    violations.map((v) => [v.field, v.rule]),
    [[field, rule]],
    JSON.stringify(violations),
  );
  if (received !== undefined) assert.deepEqual(violations[0]?.received, received);
  assert.ok(violations[0]?.message, 'every violation says what is wrong');
}

const STRING_LIMITS: [string, number][] = [
  ['eventType', 128],
  ['eventValue', 128],
  ['language', 256],
  ['originContext', 128],
  ['originLevel1', 128],
  ['originLevel2', 128],
  ['originLevel3', 1024],
  ['splitTestRunName', 128],
  ['splitTestRunVersion', 128],
  ['userDisplayName', 128],
  ['username', 128],
  ['lastSearchQueryUid', 128],
  ['trackingId', 128],
  ['userAgent', 1024],
];

/** A value of exactly `length` characters that passes the field's other rules. */
function valueOfLength(field: string, length: number): string {
  // A well-formed tag: private-use subtags of up to 8 characters may repeat.
  if (field === 'language') return `en-x-${'a'.repeat(length - 5)}`.replace(/a{9}/g, `${'a'.repeat(8)}-`);
  if (field === 'trackingId') return 'a'.repeat(length);
  return 'é'.repeat(length);
}

describe('string limits', () => {
  for (const [field, limit] of STRING_LIMITS) {
    it(`${field}: ${limit} characters accepted, ${limit + 1} rejected`, async () => {
      const atLimit = valueOfLength(field, limit);
      assert.equal(atLimit.length, limit);
      const ok = await post(validCustomEvent({ [field]: atLimit }));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const over = valueOfLength(field, limit + 1);
      const rejected = await post(validCustomEvent({ [field]: over }));
      const violations = violationsOf(rejected);
      const violation = violations.find((v) => v.field === field && v.rule === 'maxLength');
      assert.ok(violation, JSON.stringify(violations));
      assert.equal(violation.limit, limit);
    });
  }

  it('stores a value at its limit intact', async () => {
    const value = 'z'.repeat(128);
    assert.equal((await post(validCustomEvent({ eventType: 'limit-check', eventValue: value }))).status, 200);
    const [stored] = await readEvents(server, server.masterKey, '&eventType=limit-check');
    assert.equal(stored?.eventValue, value);
  });
});

describe('required fields', () => {
  for (const field of ['eventType', 'eventValue', 'language']) {
    it(`${field} is required`, async () => {
      const event: Record<string, unknown> = validCustomEvent();
      delete event[field];
      assertOnlyViolation(await post(event), field, 'required');
    });
    it(`${field} may not be empty`, async () => {
      const rule = field === 'language' ? 'format' : 'minLength';
      assertOnlyViolation(await post(validCustomEvent({ [field]: '' })), field, rule, '');
    });
  }
  it('lists every missing field at once', async () => {
    const violations = violationsOf(await post({}));
    assert.deepEqual(violations.map((v) => v.field).sort(), ['eventType', 'eventValue', 'language']);
  });
});

describe('language', () => {
  // What browsers put in <html lang>, and what search pages built on Java locales send.
  const accepted: [string, string][] = [
    ['en', 'en'],
    ['fr', 'fr'],
    ['EN', 'en'],
    ['en-US', 'en'],
    ['pt-BR', 'pt'],
    ['fr_CA', 'fr'],
    ['zh-Hant-TW', 'zh'],
    ['es-419', 'es'],
    ['de-DE-1996', 'de'],
    ['en-US-u-ca-gregory', 'en'],
    ['tl', 'tl'],
  ];
  for (const [tag, code] of accepted) {
    it(`accepts ${tag}, stored as ${code} with the tag beside it`, async () => {
      const eventType = `lang-${tag}`;
      assert.equal((await post(validCustomEvent({ eventType, language: tag }))).status, 200);
      const [stored] = await readEvents(
        server,
        server.masterKey,
        `&eventType=${encodeURIComponent(eventType)}`,
      );
      assert.equal(stored?.language, code);
      assert.equal(stored?.languageTag, tag);
    });
  }
  // Not ISO 639-1 (xx, eng, iw: withdrawn), not a tag at all, or a malformed one (empty, repeated or
  // misplaced subtags).
  for (const bad of [
    'xx',
    'eng',
    'iw',
    'unknown',
    'e',
    'en-',
    '12',
    'en US',
    'en--US',
    'en-US-US',
    'i-klingon',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, async () => {
      assertOnlyViolation(await post(validCustomEvent({ language: bad })), 'language', 'format', bad);
    });
  }
});

describe('outcome', () => {
  for (const ok of [-5, 0, 5]) {
    it(`accepts ${ok}`, async () => {
      assert.equal((await post(validCustomEvent({ outcome: ok }))).status, 200);
    });
  }
  it('rejects -6 and 6', async () => {
    assertOnlyViolation(await post(validCustomEvent({ outcome: -6 })), 'outcome', 'minimum', -6);
    assertOnlyViolation(await post(validCustomEvent({ outcome: 6 })), 'outcome', 'maximum', 6);
  });
  it('rejects a fraction and a string', async () => {
    assertOnlyViolation(await post(validCustomEvent({ outcome: 1.5 })), 'outcome', 'type', 1.5);
    assertOnlyViolation(await post(validCustomEvent({ outcome: '3' })), 'outcome', 'type', '3');
  });
});

describe('clientId', () => {
  it('accepts a UUID and answers it back', async () => {
    const clientId = '3f1d2c4b-5a69-4e87-9b0a-1c2d3e4f5a6b';
    const answer = await post(validCustomEvent({ clientId }));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.clientId, clientId);
    assert.equal(answer.body.visitorId, clientId);
  });
  for (const bad of [
    'not-a-uuid',
    '3f1d2c4b5a694e879b0a1c2d3e4f5a6b',
    '3f1d2c4b-5a69-4e87-9b0a-1c2d3e4f5a6bz',
  ]) {
    it(`rejects ${bad}`, async () => {
      assertOnlyViolation(await post(validCustomEvent({ clientId: bad })), 'clientId', 'format', bad);
    });
  }
});

describe('trackingId', () => {
  it('accepts lowercase letters, digits and _', async () => {
    assert.equal((await post(validCustomEvent({ trackingId: 'web_site_2' }))).status, 200);
  });
  for (const bad of ['Web', 'web-site', 'web site', 'wéb']) {
    it(`rejects ${JSON.stringify(bad)}`, async () => {
      assertOnlyViolation(await post(validCustomEvent({ trackingId: bad })), 'trackingId', 'pattern', bad);
    });
  }
});

describe('types', () => {
  it('anonymous must be a boolean', async () => {
    assertOnlyViolation(await post(validCustomEvent({ anonymous: 'yes' })), 'anonymous', 'type', 'yes');
  });
  it('customData must be an object', async () => {
    assertOnlyViolation(await post(validCustomEvent({ customData: ['a'] })), 'customData', 'type', ['a']);
  });
  it('a number where a string belongs is named with its value', async () => {
    assertOnlyViolation(await post(validCustomEvent({ originLevel1: 42 })), 'originLevel1', 'type', 42);
  });
  it('null means absent, as the official client treats it', async () => {
    assert.equal((await post(validCustomEvent({ originLevel2: null, outcome: null }))).status, 200);
  });
  it('a long received value is echoed cut short', async () => {
    const violations = violationsOf(await post(validCustomEvent({ eventType: 'x'.repeat(5000) })));
    const received = violations[0]?.received as string;
    assert.ok(received.length < 400, `echo is ${received.length} characters`);
    assert.match(received, /5000 characters/);
  });
});

describe('customData', () => {
  it('normalises keys and stringifies values, as the reference says', async () => {
    const marker = `m${Date.now()}`;
    const answer = await post(
      validCustomEvent({
        eventType: marker,
        customData: {
          'Facet Id': '@objecttype',
          'Tab\tName': 'All',
          UPPER: 'kept As-Is',
          list: ['value_1', 'value_2'],
          count: 3,
          flag: false,
          nested: { a: 1 },
          nothing: null,
        },
      }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await readEvents(server, server.masterKey, `&eventType=${marker}`);
    assert.deepEqual(stored?.customData, {
      facet_id: '@objecttype',
      tab_name: 'All',
      upper: 'kept As-Is',
      list: '["value_1","value_2"]',
      count: '3',
      flag: 'false',
      nested: '{"a":1}',
      nothing: 'null',
    });
  });

  it('rejects a key with other characters, naming the key', async () => {
    assertOnlyViolation(
      await post(validCustomEvent({ customData: { ok: 1, 'facet-id': 'x' } })),
      'customData.facet-id',
      'keyCharacters',
      'facet-id',
    );
  });

  it('names every bad key at once, with the other violations', async () => {
    const violations = violationsOf(
      await post(validCustomEvent({ outcome: 10, customData: { 'a.b': 1, 'c/d': 2, ü: 3 } })),
    );
    assert.deepEqual(violations.map((v) => v.field).sort(), [
      'customData.a.b',
      'customData.c/d',
      'customData.ü',
      'outcome',
    ]);
  });

  it('rejects two keys that normalise to the same key', async () => {
    assertOnlyViolation(
      await post(validCustomEvent({ customData: { 'Facet Id': 'a', facet_id: 'b' } })),
      'customData.facet_id',
      'uniqueKey',
      'facet_id',
    );
  });

  it('rejects nothing for an empty customData', async () => {
    assert.equal((await post(validCustomEvent({ customData: {} }))).status, 200);
  });
});

describe('every field is stored', () => {
  it('reads back what was sent', async () => {
    const sent = validCustomEvent({
      eventType: 'roundtrip',
      eventValue: 'all-fields',
      language: 'fr-CA',
      originContext: 'Search',
      originLevel1: 'hub',
      originLevel2: 'tab',
      originLevel3: 'https://example.com/',
      outcome: -2,
      splitTestRunName: 'test-a',
      splitTestRunVersion: 'v2',
      trackingId: 'site_1',
      lastSearchQueryUid: 'a1b2c3',
      userAgent: 'Mozilla/5.0',
      username: 'alice@example.com',
      userDisplayName: 'Alice',
      clientId: '0b6f1c3e-8f8e-4b9a-9d7e-2f0c1a2b3c4d',
    });
    assert.equal((await post(sent)).status, 200);
    const [stored] = await readEvents(server, server.masterKey, '&eventType=roundtrip');
    assert.ok(stored);
    const { language, ...asSent } = sent;
    for (const [field, value] of Object.entries(asSent)) assert.deepEqual(stored[field], value, field);
    assert.equal(stored.language, 'fr', 'the ISO 639-1 code');
    assert.equal(stored.languageTag, language, 'the tag as sent');
    assert.equal(stored.category, 'custom');
    assert.equal(stored.org, 'default');
    assert.equal(stored.credentialId, 'master');
  });
});
