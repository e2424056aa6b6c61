import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import {
  type Answer,
  CUSTOM_PATH,
  call,
  createKey,
  serverForSuite,
  type TestServer,
  validCustomEvent,
} from '../helpers/server.ts';
import {
  mintToken,
  postEvent,
  storedWhere,
  UA_PREFIXES,
  VALID_EVENTS,
  validClickEvent,
  validSearchEvent,
  validViewEvent,
} from '../helpers/ua.ts';

/**
 * The search, click and view models of the v15 Write API (shared/reference/coveo-ua.md §5), through the
 * real routes: each required field, each bound at its limit and one past it, what is stored, and the joins
 * the fields exist for.
 */

let server: TestServer;
let writeKey: string;
let readKey: string;
let impersonateKey: string;
serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
  readKey = await createKey(server, ['analytics:read']);
  impersonateKey = await createKey(server, ['analytics:write', 'analytics:impersonate']);
});

function assertViolation(answer: Answer, field: string, rule: string, received?: unknown) {
  const violations = violationsOf(answer);
  const found = violations.find((v) => v.field === field && v.rule === rule);
  assert.ok(found, `expected ${field}/${rule} in ${JSON.stringify(violations)}`);
  if (received !== undefined) assert.deepEqual(found.received, received);
  return found;
}

const REQUIRED = {
  search: ['actionCause', 'queryText', 'responseTime', 'searchQueryUid', 'language'],
  click: ['actionCause', 'documentPosition', 'searchQueryUid', 'sourceName', 'language'],
  view: ['location', 'language'],
} as const;

describe('required fields', () => {
  for (const [kind, fields] of Object.entries(REQUIRED)) {
    for (const field of fields) {
      it(`${kind} without ${field} is 400 naming it`, async () => {
        const event: Record<string, unknown> = VALID_EVENTS[kind as keyof typeof VALID_EVENTS]();
        delete event[field];
        assertViolation(await postEvent(server, kind, event), field, 'required');
      });
    }
    it(`${kind} with every required field missing names all of them at once`, async () => {
      const answer = await postEvent(server, kind, {});
      const named = violationsOf(answer).map((v) => v.field);
      for (const field of fields) assert.ok(named.includes(field), `${field} in ${named}`);
    });
  }
});

describe('numeric bounds', () => {
  const cases: [kind: keyof typeof VALID_EVENTS, field: string, lowest: number][] = [
    ['click', 'documentPosition', 1],
    ['search', 'responseTime', 1],
    ['search', 'numberOfResults', 0],
  ];
  for (const [kind, field, lowest] of cases) {
    it(`${kind}.${field}: ${lowest} accepted, ${lowest - 1} refused with the value`, async () => {
      const ok = await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: lowest }));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const refused = assertViolation(
        await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: lowest - 1 })),
        field,
        'minimum',
        lowest - 1,
      );
      assert.equal(refused.limit, lowest);
    });
    it(`${kind}.${field} must be an integer, not "3" or 2.5`, async () => {
      assertViolation(
        await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: '3' })),
        field,
        'type',
        '3',
      );
      assertViolation(
        await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: 2.5 })),
        field,
        'type',
        2.5,
      );
    });
    it(`${kind}.${field} past 32 bits is refused, not wrapped`, async () => {
      assertViolation(
        await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: 2 ** 31 })),
        field,
        'maximum',
      );
    });
  }

  it('search.contextual must be a boolean', async () => {
    assertViolation(
      await postEvent(server, 'search', validSearchEvent({ contextual: 'yes' })),
      'contextual',
      'type',
    );
  });
});

describe('string limits', () => {
  const cases: [kind: keyof typeof VALID_EVENTS, field: string, limit: number][] = [
    ['search', 'actionCause', 128],
    ['search', 'queryText', 8192],
    ['search', 'advancedQuery', 8192],
    ['search', 'queryPipeline', 128],
    ['click', 'sourceName', 256],
    ['click', 'documentUri', 4096],
    ['click', 'documentTitle', 1024],
    ['click', 'collectionName', 256],
    ['view', 'location', 4096],
    ['view', 'title', 1024],
    ['view', 'contentIdKey', 128],
    ['view', 'contentType', 128],
  ];
  for (const [kind, field, limit] of cases) {
    it(`${kind}.${field}: ${limit} characters accepted, ${limit + 1} refused`, async () => {
      const ok = await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: 'é'.repeat(limit) }));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const refused = assertViolation(
        await postEvent(server, kind, VALID_EVENTS[kind]({ [field]: 'é'.repeat(limit + 1) })),
        field,
        'maxLength',
      );
      assert.equal(refused.limit, limit);
    });
  }

  it('an empty queryText is a search without terms, and is stored as such', async () => {
    const uid = randomUUID();
    assert.equal(
      (await postEvent(server, 'search', validSearchEvent({ queryText: '', searchQueryUid: uid }))).status,
      200,
    );
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.equal(stored?.queryText, '');
  });

  it('an empty sourceName or actionCause is refused as empty', async () => {
    assertViolation(
      await postEvent(server, 'click', validClickEvent({ sourceName: '' })),
      'sourceName',
      'minLength',
    );
    assertViolation(
      await postEvent(server, 'search', validSearchEvent({ actionCause: '' })),
      'actionCause',
      'minLength',
    );
  });

  it('originLevel3 (the referrer): 1024 characters stored whole on every kind, 1025 refused', async () => {
    // Coveo's own limit, where the official client cuts referrers.
    const referrer = (length: number) => 'https://www.example.com/?q='.padEnd(length, 'x');
    const post = (kind: string, event: Record<string, unknown>) =>
      kind === 'custom'
        ? call(`${server.url}${CUSTOM_PATH}`, { token: server.masterKey, body: event })
        : postEvent(server, kind, event);
    const valid = { ...VALID_EVENTS, custom: validCustomEvent };
    for (const kind of ['search', 'click', 'view', 'custom'] as const) {
      const clientId = randomUUID();
      const ok = await post(kind, valid[kind]({ clientId, originLevel3: referrer(1024) }));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const [stored] = await storedWhere(server, (e) => e.clientId === clientId);
      assert.equal(stored?.originLevel3, referrer(1024), kind);

      const over = referrer(1025);
      const refused = violationsOf(await post(kind, valid[kind]({ originLevel3: over })));
      assert.deepEqual(
        refused.map((v) => [v.field, v.rule, v.limit, v.received]),
        [['originLevel3', 'maxLength', 1024, `${over.slice(0, 256)}… (1025 characters)`]],
        kind,
      );
    }
  });

  it('the common fields keep their rules on every kind', async () => {
    for (const kind of ['search', 'click', 'view'] as const) {
      const answer = await postEvent(server, kind, VALID_EVENTS[kind]({ language: 'english', outcome: 9 }));
      assertViolation(answer, 'language', 'format', 'english');
      assertViolation(answer, 'outcome', 'maximum', 9);
    }
  });
});

describe('searchQueryUid', () => {
  it('longer than 36 characters is cut to 36 on searches and clicks alike, so they still join', async () => {
    const long = `${randomUUID()}-and-more`;
    assert.equal((await postEvent(server, 'search', validSearchEvent({ searchQueryUid: long }))).status, 200);
    assert.equal((await postEvent(server, 'click', validClickEvent({ searchQueryUid: long }))).status, 200);
    assert.equal(
      (
        await call(`${server.url}${CUSTOM_PATH}`, {
          token: server.masterKey,
          body: validCustomEvent({ eventType: 'after-long-uid', lastSearchQueryUid: long }),
        })
      ).status,
      200,
    );
    const joined = await storedWhere(
      server,
      (e) => e.searchQueryUid === long.slice(0, 36) || e.lastSearchQueryUid === long.slice(0, 36),
    );
    assert.deepEqual(joined.map((e) => e.category).sort(), ['click', 'custom', 'search']);
  });

  it('past 256 characters it is refused rather than cut', async () => {
    assertViolation(
      await postEvent(server, 'search', validSearchEvent({ searchQueryUid: 'u'.repeat(257) })),
      'searchQueryUid',
      'maxLength',
    );
  });

  it('an empty one is refused on a search and a click', async () => {
    for (const kind of ['search', 'click'] as const) {
      assertViolation(
        await postEvent(server, kind, VALID_EVENTS[kind]({ searchQueryUid: '' })),
        'searchQueryUid',
        'minLength',
      );
    }
  });

  it('an empty lastSearchQueryUid (the official client before any search) means none', async () => {
    const answer = await call(`${server.url}${CUSTOM_PATH}`, {
      token: server.masterKey,
      body: validCustomEvent({ eventType: 'no-search-yet', lastSearchQueryUid: '' }),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await storedWhere(server, (e) => e.eventType === 'no-search-yet');
    assert.equal(stored?.lastSearchQueryUid, null);
  });
});

describe('facetState and results', () => {
  const facet = (extra: Record<string, unknown> = {}) => ({
    field: '@source',
    id: 'source-facet_1',
    value: 'Knowledge Base',
    valuePosition: 1,
    displayValue: 'Knowledge Base',
    facetType: 'specific',
    state: 'selected',
    facetPosition: 1,
    title: 'Source',
    ...extra,
  });

  it('are stored whole, as sent', async () => {
    const uid = randomUUID();
    const facetState = [
      facet(),
      facet({
        id: 'date@range',
        facetType: 'dateRange',
        state: 'excluded',
        start: '2026-01-01',
        end: '2026-02-01',
        endInclusive: false,
      }),
    ];
    const results = [
      { documentUri: 'https://kb/1', documentUriHash: 'h1' },
      { documentUri: 'https://kb/2', documentUriHash: 'h2' },
    ];
    assert.equal(
      (await postEvent(server, 'search', validSearchEvent({ searchQueryUid: uid, facetState, results })))
        .status,
      200,
    );
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.deepEqual(stored?.facetState, facetState);
    assert.deepEqual(stored?.results, results);
  });

  it('a facet id outside ^[a-zA-Z0-9@\\-_]{1,60}$ is refused, naming the item', async () => {
    for (const id of ['has space', 'x'.repeat(61), '']) {
      const answer = await postEvent(
        server,
        'search',
        validSearchEvent({ facetState: [facet(), facet({ id })] }),
      );
      assertViolation(answer, 'facetState[1].id', 'pattern', id);
    }
    const ok = await postEvent(
      server,
      'search',
      validSearchEvent({ facetState: [facet({ id: `@A-z_9${'x'.repeat(54)}` })] }),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('a facet state outside the known ones is refused with the allowed values', async () => {
    const answer = await postEvent(
      server,
      'search',
      validSearchEvent({ facetState: [facet({ state: 'maybe' })] }),
    );
    const violation = violationsOf(answer).find((v) => v.field === 'facetState[0].state');
    assert.ok(violation, JSON.stringify(answer.body));
    assert.equal(violation.received, 'maybe');
    for (const state of ['auto_selected', 'selected', 'excluded', 'idle']) {
      assert.equal(
        (await postEvent(server, 'search', validSearchEvent({ facetState: [facet({ state })] }))).status,
        200,
        state,
      );
    }
  });

  it('a facet without its field, or results that are not a list, are refused', async () => {
    const { field: _, ...withoutField } = facet();
    assertViolation(
      await postEvent(server, 'search', validSearchEvent({ facetState: [withoutField] })),
      'facetState[0].field',
      'required',
    );
    assertViolation(
      await postEvent(server, 'search', validSearchEvent({ results: { documentUri: 'x' } })),
      'results',
      'type',
    );
  });
});

describe('what each kind stores and answers', () => {
  it('a search answers {searchEventUid, visitId, visitorId, clientId}, searchEventUid naming the stored event', async () => {
    const uid = randomUUID();
    const event = validSearchEvent({
      searchQueryUid: uid,
      advancedQuery: '@source==KB',
      numberOfResults: 17,
      contextual: false,
      queryPipeline: 'support',
      indexId: 'idx-1',
      originLevel1: 'SupportHub',
      customData: { 'Result Count Bucket': '10-20' },
    });
    const answer = await postEvent(server, 'search', event, writeKey);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body), ['searchEventUid', 'visitId', 'visitorId', 'clientId']);
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.ok(stored);
    assert.equal(stored.id, answer.body.searchEventUid);
    assert.equal(stored.visitId, answer.body.visitId);
    assert.deepEqual(
      {
        category: stored.category,
        eventType: stored.eventType,
        eventValue: stored.eventValue,
        actionCause: stored.actionCause,
        queryText: stored.queryText,
        advancedQuery: stored.advancedQuery,
        responseTime: stored.responseTime,
        numberOfResults: stored.numberOfResults,
        contextual: stored.contextual,
        queryPipeline: stored.queryPipeline,
        indexId: stored.indexId,
        originLevel1: stored.originLevel1,
        username: stored.username,
        customData: stored.customData,
      },
      {
        category: 'search',
        eventType: 'search',
        eventValue: 'searchboxSubmit',
        actionCause: 'searchboxSubmit',
        queryText: 'reset password',
        advancedQuery: '@source==KB',
        responseTime: 42,
        numberOfResults: 17,
        contextual: false,
        queryPipeline: 'support',
        indexId: 'idx-1',
        originLevel1: 'SupportHub',
        username: 'anonymous',
        customData: { result_count_bucket: '10-20' },
      },
    );
  });

  it('a click answers {visitId, visitorId, clientId} and keeps every document field', async () => {
    const uid = randomUUID();
    const document = {
      documentUri: 'https://kb/2',
      documentUriHash: 'h2',
      collectionName: 'default',
      documentTitle: 'Resetting a password',
      documentUrl: 'https://kb.example.com/2',
      documentAuthor: 'Support team',
      rankingModifier: 'Reveal ART',
      documentCategory: 'howto',
      queryPipeline: 'support',
    };
    const answer = await postEvent(
      server,
      'click',
      validClickEvent({ searchQueryUid: uid, documentPosition: 13, ...document }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body), ['visitId', 'visitorId', 'clientId']);
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.ok(stored);
    assert.equal(stored.category, 'click');
    assert.equal(stored.documentPosition, 13);
    assert.equal(stored.sourceName, 'Knowledge Base');
    for (const [field, value] of Object.entries(document)) assert.equal(stored[field], value, field);
  });

  it('a view keeps the page and the content it shows', async () => {
    const location = `https://support.example.com/articles/${randomUUID()}`;
    const view = {
      location,
      referrer: 'https://www.example.com/',
      title: 'Article 42',
      contentIdKey: '@permanentid',
      contentIdValue: 'abc42',
      contentType: 'article',
    };
    const answer = await postEvent(server, 'view', validViewEvent(view));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body), ['visitId', 'visitorId', 'clientId']);
    const [stored] = await storedWhere(server, (e) => e.location === location);
    assert.ok(stored);
    assert.equal(stored.category, 'view');
    assert.equal(stored.eventValue, 'article');
    for (const [field, value] of Object.entries(view)) assert.equal(stored[field], value, field);
  });

  it('fields a kind does not have are accepted and not stored (the official client adds some)', async () => {
    const location = `https://support.example.com/${randomUUID()}`;
    const answer = await postEvent(
      server,
      'view',
      validViewEvent({ location, facetState: [], actionType: 'x' }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await storedWhere(server, (e) => e.location === location);
    assert.equal(stored?.facetState, null);
  });

  it('the events of one visitor share the visit, whatever their kind', async () => {
    const clientId = randomUUID();
    const answers = [];
    for (const kind of ['search', 'click', 'view'] as const) {
      answers.push((await postEvent(server, kind, VALID_EVENTS[kind]({ clientId }))).body);
    }
    assert.equal(new Set(answers.map((a) => a.visitId)).size, 1, JSON.stringify(answers));
    assert.ok(answers.every((a) => a.visitorId === clientId && a.clientId === clientId));
  });
});

describe('both prefixes', () => {
  for (const prefix of UA_PREFIXES) {
    for (const kind of ['search', 'click', 'view'] as const) {
      it(`${prefix}/${kind} stores the event`, async () => {
        const uid = randomUUID();
        const event =
          kind === 'view'
            ? validViewEvent({ location: `https://x/${uid}` })
            : VALID_EVENTS[kind]({ searchQueryUid: uid });
        const answer = await postEvent(server, kind, event, writeKey, prefix);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const stored = await storedWhere(
          server,
          (e) => e.searchQueryUid === uid || e.location === `https://x/${uid}`,
        );
        assert.equal(stored.length, 1);
        assert.equal(stored[0]?.category, kind);
      });
    }
  }
});

describe('credentials and identity', () => {
  for (const kind of ['search', 'click', 'view', 'collect'] as const) {
    it(`${kind}: no credential is 401, a key without analytics:write is 403, and nothing is stored`, async () => {
      const body = kind === 'collect' ? { t: 'pageview' } : VALID_EVENTS[kind]();
      errorOf(await postEvent(server, kind, body, ''), 401, 'UNAUTHENTICATED');
      errorOf(await postEvent(server, kind, body, 'oua_not-a-real-key'), 401, 'UNAUTHENTICATED');
      errorOf(await postEvent(server, kind, body, readKey), 403, 'FORBIDDEN');
    });
  }

  it('another organization named in ?org= is 403', async () => {
    const answer = await call(`${server.url}${UA_PREFIXES[0]}/search?org=someone-else`, {
      token: writeKey,
      body: validSearchEvent(),
    });
    errorOf(answer, 403, 'FORBIDDEN');
  });

  it('username on a search needs analytics:impersonate, as on a custom event', async () => {
    const refused = await postEvent(server, 'search', validSearchEvent({ username: 'mallory' }), writeKey);
    const body = errorOf(refused, 403, 'FORBIDDEN');
    assert.deepEqual(
      body.violations?.map((v) => [v.field, v.rule]),
      [['username', 'privilege']],
    );
    const uid = randomUUID();
    const ok = await postEvent(
      server,
      'search',
      validSearchEvent({ searchQueryUid: uid, username: 'bob' }),
      impersonateKey,
    );
    assert.equal(ok.status, 200);
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.equal(stored?.username, 'bob');
  });

  it("a search token adds its userGroups to a search's own, and its user and search hub", async () => {
    const token = await mintToken(server, {
      userId: 'carol@example.com',
      searchHub: 'PartnerPortal',
      userGroups: ['partners', 'emea'],
    });
    const uid = randomUUID();
    const answer = await postEvent(
      server,
      'search',
      validSearchEvent({ searchQueryUid: uid, userGroups: ['beta', 'emea'] }),
      token,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.deepEqual(stored?.userGroups, ['beta', 'emea', 'partners']);
    assert.equal(stored?.username, 'carol@example.com');
    assert.equal(stored?.originLevel1, 'PartnerPortal');

    // Only searches record groups (reference §4).
    const clickUid = randomUUID();
    assert.equal(
      (await postEvent(server, 'click', validClickEvent({ searchQueryUid: clickUid }), token)).status,
      200,
    );
    const [click] = await storedWhere(server, (e) => e.searchQueryUid === clickUid);
    assert.equal(click?.userGroups, null);
  });

  it('a click sent as a beacon (form body, token in the query) is stored', async () => {
    const uid = randomUUID();
    const clientId = randomUUID();
    const form = new URLSearchParams({
      clickEvent: JSON.stringify(validClickEvent({ searchQueryUid: uid, clientId })),
    });
    const answer = await call(
      `${server.url}${UA_PREFIXES[1]}/click?access_token=${writeKey}&visitorId=${clientId}&discardVisitInfo=true`,
      { raw: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await storedWhere(server, (e) => e.searchQueryUid === uid);
    assert.equal(stored?.clientId, clientId);
  });
});
