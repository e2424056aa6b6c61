import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { loosen } from '../../src/channel/payloads.ts';
import { OpenUAError, type Violation } from '../../src/core/errors.ts';
import { MAX_JSON_DEPTH } from '../../src/core/json.ts';
import { resolveQuery } from '../../src/query/query-spec.ts';
import {
  filter,
  INIT_PATH,
  initBody,
  LOG_PATH,
  logEvents,
  ODATA,
  odataErrorOf,
  startConversation,
  unique,
} from '../helpers/channel.ts';
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
import { storedWhere, UA_PREFIXES, validSearchEvent } from '../helpers/ua.ts';

/**
 * The rules every body meets before any route reads it (src/http/content-types.ts, json.ts): valid UTF-8,
 * nested at most MAX_JSON_DEPTH levels, no NUL and no lone surrogate in any string or key; and the character
 * rule of identifiers and names (validation.ts, format `printable`). Through HTTP, against a real server.
 */

let server: TestServer;
let writeKey: string;
let readKey: string;
serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
  readKey = await createKey(server, ['analytics:read']);
});

/** `depth` arrays around `inner`: `[[[1]]]` is 3 levels. */
const arrays = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
/** `{"and":[…]}` query filters nested `depth` times around one comparison (2 levels each). */
const andFilters = (depth: number) => {
  let f = '{"field":"eventType","op":"eq","value":"x"}';
  for (let i = 0; i < depth; i++) f = `{"and":[${f}]}`;
  return f;
};

/** POST of raw bytes or text, as sent. */
async function post(
  path: string,
  body: string | Buffer,
  contentType = 'application/json',
  token: string | undefined = server.masterKey,
): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(token && { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed as Record<string, unknown> };
}

const beacon = (kind: string, event: string) =>
  post(
    `${UA_PREFIXES[0]}/${kind}?access_token=${encodeURIComponent(writeKey)}`,
    `${kind}Event=${encodeURIComponent(event)}`,
    'application/x-www-form-urlencoded',
    undefined,
  );

/** The one violation of a 400, with the rule asked. */
function oneViolation(answer: Answer, rule: string): Violation {
  const violations = violationsOf(answer);
  assert.deepEqual(
    violations.map((v) => v.rule),
    [rule],
    JSON.stringify(violations),
  );
  return violations[0] as Violation;
}

function assertDepth(answer: Answer, fieldStart: string): Violation {
  const violation = oneViolation(answer, 'depth');
  assert.equal(violation.limit, MAX_JSON_DEPTH);
  assert.ok(violation.field.startsWith(fieldStart), `${violation.field} should start with ${fieldStart}`);
  assert.match(violation.message, /64/);
  return violation;
}

describe('nesting depth: one limit for every body, checked when it is parsed', () => {
  it('the limit is 64 levels of arrays and objects', () => {
    assert.equal(MAX_JSON_DEPTH, 64);
  });

  it('logAnalyticsEvent with events nested 5,000 levels deep is a 400 naming the depth rule, not a 500', async () => {
    const ids = await startConversation(server);
    const body = `{"eventName":"SessionStarted","data":{"conversationId":"${ids.conversationId}","providerSessionId":"${ids.providerSessionId}","participantId":"${ids.participantId}","events":${arrays(5000)}}}`;
    assertDepth(await post(LOG_PATH, body), 'data.events[0][0]');
    // 3,000 levels of objects, in an event's additionalData.
    let deep = '1';
    for (let i = 0; i < 3000; i++) deep = `{"a":${deep}}`;
    const objects = `{"eventName":"SessionStarted","data":{"conversationId":"${ids.conversationId}","events":[{"kpiEventName":"SessionStarted","additionalData":${deep}}]}}`;
    assertDepth(await post(LOG_PATH, objects), 'data.events[0].additionalData.a.a');
  });

  it('initLogAnalytics nested 5,000 levels deep is a 400 naming the depth rule', async () => {
    const body = `{"data":{"conversation":{"conversationId":"c","providerId":"p","session":${arrays(5000)}}}}`;
    assertDepth(await post(INIT_PATH, body), 'data.conversation.session[0]');
  });

  it('a batch whose kpi item is nested 4,000 levels deep is a 400 naming the item', async () => {
    const body = `{"events":[{"kind":"custom","eventType":"a","eventValue":"b","language":"en"},{"kind":"kpi","eventName":"SessionStarted","data":{"conversationId":"c","events":${arrays(4000)}}}]}`;
    assertDepth(await post('/api/v1/events/batch', body), 'events[1].data.events[0]');
  });

  it('query filters nested 5,000 deep are a 400 naming the depth rule, on the query API and on alert rules', async () => {
    const query = `{"measures":["count"],"filters":[${andFilters(5000)}]}`;
    assertDepth(await post('/api/v1/query', query), 'filters[0].and[0].and[0]');
    const rule = `{"name":"deep","measure":"count","comparison":"gt","threshold":1,"windowMinutes":5,"webhookUrl":"https://hooks.example.com/x","filters":[${andFilters(5000)}]}`;
    assertDepth(await post('/api/v1/alert-rules', rule), 'filters[0].and[0]');
  });

  it('a UA event nested too deeply is refused the same way as JSON, text/plain and a beacon field', async () => {
    const event = `{"eventType":"deep","eventValue":"v","language":"en","customData":{"a":${arrays(5000)}}}`;
    assertDepth(await post(CUSTOM_PATH, event, 'application/json', writeKey), 'customData.a[0]');
    assertDepth(await post(CUSTOM_PATH, event, 'text/plain', writeKey), 'customData.a[0]');
    assertDepth(await beacon('custom', event), 'customEvent.customData.a[0]');
  });

  it('64 levels are accepted and 65 are not, counted from the body itself', async () => {
    // The body (1) and customData (2) hold `a`: 62 more levels make 64.
    const clientId = randomUUID();
    const at = (levels: number) =>
      `{"eventType":"depth-${levels}","eventValue":"v","language":"en","clientId":"${clientId}","customData":{"a":${arrays(levels)}}}`;
    const ok = await post(CUSTOM_PATH, at(62), 'application/json', writeKey);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const refused = assertDepth(
      await post(CUSTOM_PATH, at(63), 'application/json', writeKey),
      'customData.a',
    );
    // The violation names the value that is one level too deep.
    assert.equal(refused.field, `customData.a${'[0]'.repeat(62)}`);
    const stored = await storedWhere(server, (e) => e.clientId === clientId);
    assert.deepEqual(
      stored.map((e) => e.eventType),
      ['depth-62'],
    );
  });

  it('the OData $filter refuses parentheses and not nested too deeply with a 400, not a 500', async () => {
    const set = `${ODATA}/msdyn_conversationsdata`;
    const parens = `${'('.repeat(3000)}msdyn_name eq 'a'${')'.repeat(3000)}`;
    const nots = `${'not '.repeat(1000)}msdyn_name eq 'a'`;
    for (const expression of [parens, nots]) {
      const answer = await call(`${server.url}${set}${filter(expression)}`, { token: server.masterKey });
      const error = odataErrorOf(answer, 400, 'INVALID_REQUEST');
      assert.deepEqual(
        error.violations?.map((v) => [v.field, v.rule]),
        [['$filter', 'depth']],
      );
    }
    // A chain of and/or is bounded too: each one is a level of the expression.
    const chain = Array.from({ length: 150 }, () => "msdyn_name eq 'a'").join(' and ');
    const chained = await call(`${server.url}${set}${filter(chain)}`, { token: server.masterKey });
    assert.deepEqual(
      odataErrorOf(chained, 400, 'INVALID_REQUEST').violations?.map((v) => [v.field, v.rule]),
      [['$filter', 'operators']],
    );
    // Ordinary nesting still reads, and words inside string literals are not operators.
    const words = `contains(msdyn_name,'(((( not and or ))))')`;
    assert.equal(
      (await call(`${server.url}${set}${filter(words)}`, { token: server.masterKey })).status,
      200,
    );
    const fine = await call(
      `${server.url}${set}${filter(`((msdyn_name eq 'a') or not (msdyn_name eq 'b'))`)}`,
      {
        token: server.masterKey,
      },
    );
    assert.equal(fine.status, 200, JSON.stringify(fine.body));
  });

  it('the recursive walkers are bounded themselves, whatever path a value takes to them', () => {
    // A value built in code, never parsed from a body: loosen copies it without overflowing the stack,
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    assert.doesNotThrow(() => loosen({ data: { events: deep } }));
    // and the query spec refuses filters nested too deeply, naming the rule.
    let filters: unknown = { field: 'eventType', op: 'eq', value: 'x' };
    for (let i = 0; i < 20_000; i++) filters = { and: [filters] };
    let caught: unknown;
    try {
      resolveQuery({ measures: ['count'], filters: [filters] }, new Map());
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof OpenUAError, String(caught));
    assert.deepEqual(
      caught.violationList().map((v) => v.rule),
      ['depth'],
    );
  });
});

describe('UTF-8: a body that is not valid UTF-8 is refused, not repaired', () => {
  const withBytes = (before: string, bytes: number[], after: string) =>
    Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);

  for (const [label, bytes] of [
    ['FF', [0xff]],
    ['ED A0 80 (an encoded surrogate)', [0xed, 0xa0, 0x80]],
    ['C3 28 (a broken sequence)', [0xc3, 0x28]],
  ] as const) {
    it(`bytes ${label} in a JSON, text/plain or beacon body are a 400, and nothing is stored`, async () => {
      const clientId = randomUUID();
      const event = (inner: string) =>
        `{"eventType":"utf8${inner}","eventValue":"v","language":"en","clientId":"${clientId}"}`;
      const [before, after] = event('\u0001').split('\u0001') as [string, string];
      for (const contentType of ['application/json', 'text/plain', 'application/json; charset=latin1']) {
        const answer = await post(CUSTOM_PATH, withBytes(before, [...bytes], after), contentType, writeKey);
        const violation = oneViolation(answer, 'utf8');
        assert.equal(violation.field, '');
        assert.equal(violation.limit, 'UTF-8');
        assert.match(violation.message, new RegExp(`offset ${before.length}\\b`));
      }
      const form = withBytes(
        `customEvent=${encodeURIComponent(before)}`,
        [...bytes],
        encodeURIComponent(after),
      );
      const raw = await post(
        `${UA_PREFIXES[0]}/custom?access_token=${encodeURIComponent(writeKey)}`,
        form,
        'application/x-www-form-urlencoded',
        undefined,
      );
      oneViolation(raw, 'utf8');
      // The same bytes percent-encoded in the form are no better.
      const encoded = `customEvent=${encodeURIComponent(before)}${bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('')}${encodeURIComponent(after)}`;
      oneViolation(await beaconRaw(encoded), 'utf8');
      assert.equal((await storedWhere(server, (e) => e.clientId === clientId)).length, 0);
    });
  }

  it('valid multi-byte text, a byte order mark before the JSON and a form value in UTF-8 are accepted', async () => {
    const clientId = randomUUID();
    const text = await post(
      CUSTOM_PATH,
      `\ufeff${JSON.stringify(validCustomEvent({ eventType: 'ключ 😀 é', clientId }))}`,
      'text/plain',
      writeKey,
    );
    assert.equal(text.status, 200, JSON.stringify(text.body));
    const form = await beacon(
      'custom',
      JSON.stringify(validCustomEvent({ eventType: 'ключ 😀 é', clientId })),
    );
    assert.equal(form.status, 200, JSON.stringify(form.body));
    const stored = await storedWhere(server, (e) => e.clientId === clientId);
    assert.deepEqual(
      stored.map((e) => e.eventType),
      ['ключ 😀 é', 'ключ 😀 é'],
    );
  });
});

const beaconRaw = (form: string) =>
  post(
    `${UA_PREFIXES[0]}/custom?access_token=${encodeURIComponent(writeKey)}`,
    form,
    'application/x-www-form-urlencoded',
    undefined,
  );

describe('text: what is acknowledged is what is stored', () => {
  it('NUL is refused in any string or key of any body, naming where', async () => {
    const cases: [string, unknown, string][] = [
      [CUSTOM_PATH, validCustomEvent({ eventValue: 'a\u0000b' }), 'eventValue'],
      [CUSTOM_PATH, validCustomEvent({ customData: { k: 'x\u0000y' } }), 'customData.k'],
      [CUSTOM_PATH, validCustomEvent({ customData: { 'k\u0000': 'x' } }), 'customData.k\u0000'],
      [`${UA_PREFIXES[0]}/search`, validSearchEvent({ queryText: 'reset\u0000' }), 'queryText'],
      [
        '/api/v1/query',
        { measures: [{ fn: 'sum', field: 'documentPosition', as: 'a\u0000b' }] },
        'measures[0].as',
      ],
      ['/api/v1/orgs/default/keys', { name: 'k\u0000', privileges: ['analytics:read'] }, 'name'],
    ];
    for (const [path, body, field] of cases) {
      const violation = oneViolation(await post(path, JSON.stringify(body)), 'nul');
      assert.equal(violation.field, field);
    }
    // As a beacon too.
    const violation = oneViolation(
      await beacon('custom', JSON.stringify(validCustomEvent({ eventType: 'a\u0000' }))),
      'nul',
    );
    assert.equal(violation.field, 'customEvent.eventType');
  });

  it('a lone surrogate ("\\ud800") is refused: it is not Unicode text, and the store could not keep it', async () => {
    const clientId = randomUUID();
    for (const value of ['\ud800', 'a\udfffb', '\udc00\ud800']) {
      const answer = await post(
        CUSTOM_PATH,
        JSON.stringify(validCustomEvent({ clientId, customData: { k: value } })),
        'application/json',
        writeKey,
      );
      const violation = oneViolation(answer, 'unicode');
      assert.equal(violation.field, 'customData.k');
    }
    // A pair is one character, and fine.
    const pair = await post(
      CUSTOM_PATH,
      JSON.stringify(validCustomEvent({ clientId, customData: { k: '\ud83d\ude00' } })),
      'application/json',
      writeKey,
    );
    assert.equal(pair.status, 200);
    const stored = await storedWhere(server, (e) => e.clientId === clientId);
    assert.deepEqual(
      stored.map((e) => e.customData),
      [{ k: '😀' }],
    );
  });

  it('control characters are refused in identifiers and names; tab, line feed and carriage return are not', async () => {
    for (const [field, value] of [
      ['eventType', 'a\u0001'],
      ['eventValue', '\u001b[31m'],
      ['originLevel1', 'hub\u007f'],
      ['username', 'x\u0008'],
      ['eventId', 'id\u000c'],
    ] as const) {
      const answer = await post(
        CUSTOM_PATH,
        JSON.stringify(validCustomEvent({ [field]: value })),
        'application/json',
        server.masterKey,
      );
      const violation = oneViolation(answer, 'format');
      assert.equal(violation.field, field);
      assert.equal(violation.limit, 'printable');
      assert.equal(violation.received, value);
    }
    const clientId = randomUUID();
    const answer = await post(
      CUSTOM_PATH,
      JSON.stringify(validCustomEvent({ eventType: 'tab\there', eventValue: 'line\r\nbreak', clientId })),
      'application/json',
      writeKey,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await storedWhere(server, (e) => e.clientId === clientId);
    assert.equal(stored?.eventType, 'tab\there');
    assert.equal(stored?.eventValue, 'line\r\nbreak');
  });

  it('free text (queryText, customData values) keeps its control characters, exactly', async () => {
    const clientId = randomUUID();
    const answer = await post(
      `${UA_PREFIXES[0]}/search`,
      JSON.stringify(validSearchEvent({ queryText: 'bell\u0007', clientId, customData: { k: '\u001b' } })),
      'application/json',
      writeKey,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [stored] = await storedWhere(server, (e) => e.clientId === clientId);
    assert.equal(stored?.queryText, 'bell\u0007');
    assert.deepEqual(stored?.customData, { k: '\u001b' });
  });

  it('a byte order mark in a value is stored and read back as sent, not dropped', async () => {
    const clientId = randomUUID();
    for (const eventType of ['\ufeff', '\ufeffa', 'a\ufeff']) {
      const answer = await post(
        CUSTOM_PATH,
        JSON.stringify(
          validCustomEvent({ eventType, eventValue: '\ufeffv', clientId, customData: { k: '\ufeff' } }),
        ),
        'application/json',
        writeKey,
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    const stored = await storedWhere(server, (e) => e.clientId === clientId);
    assert.deepEqual(stored.map((e) => e.eventType).sort(), ['\ufeff', '\ufeffa', 'a\ufeff'].sort());
    for (const event of stored) {
      assert.equal(event.eventValue, '\ufeffv');
      assert.deepEqual(event.customData, { k: '\ufeff' });
    }
  });

  it('Channel Analytics ids and names refuse control characters, in the JS API, OData and the admin API', async () => {
    const ids = await startConversation(server);
    const log = await logEvents(server, ids, [{ kpiEventName: 'Custom\u0002Event' }]);
    assert.equal(oneViolation(log, 'format').field, 'data.events[0].kpiEventName');
    const init = await call(`${server.url}${INIT_PATH}`, {
      token: server.masterKey,
      body: initBody(ids.providerId, {
        conversationId: unique('conversation\u0003'),
        providerSessionId: unique('session'),
        participantId: unique('agent'),
      }),
    });
    assert.equal(oneViolation(init, 'format').field, 'data.conversation.conversationId');
    const odata = await call(`${server.url}${ODATA}/msdyn_conversationsdata`, {
      token: server.masterKey,
      body: { msdyn_conversationid: 'c\u0004', msdyn_providerid: ids.providerId },
    });
    const error = odataErrorOf(odata, 400, 'INVALID_REQUEST');
    assert.deepEqual(
      error.violations?.map((v) => [v.field, v.rule]),
      [['msdyn_conversationid', 'format']],
    );
    const provider = await call(`${server.url}/api/v1/providers`, {
      token: server.masterKey,
      body: { name: 'bad\u0005name' },
    });
    assert.deepEqual(
      violationsOf(provider).map((v) => [v.field, v.rule]),
      [['name', 'format']],
    );
    // additionalData is free text: a tab or a bell in it is kept.
    const kept = await logEvents(server, ids, [
      { kpiEventName: 'SessionStarted', additionalData: 'a\u0007' },
    ]);
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
  });

  it('admin names refuse control characters: keys, organizations, dimensions, alert rules, search tokens', async () => {
    const cases: [string, unknown, string][] = [
      ['/api/v1/orgs/default/keys', { name: 'key\u0001', privileges: ['analytics:read'] }, 'name'],
      ['/api/v1/orgs', { id: 'ctl', name: 'Org\u0001' }, 'name'],
      [
        '/api/v1/dimensions',
        { name: 'wait_seconds', displayName: 'Wait\u0001', type: 'number' },
        'displayName',
      ],
      [
        '/api/v1/alert-rules',
        {
          name: 'rule\u0001',
          measure: 'count',
          comparison: 'gt',
          threshold: 1,
          windowMinutes: 5,
          webhookUrl: 'https://hooks.example.com/x',
        },
        'name',
      ],
      ['/api/v1/orgs/default/tokens', { userId: 'user\u0001' }, 'userId'],
    ];
    for (const [path, body, field] of cases) {
      const answer = await post(path, JSON.stringify(body));
      const violations = violationsOf(answer);
      assert.deepEqual(
        violations.map((v) => [v.field, v.rule, v.limit]),
        [[field, 'format', 'printable']],
        `${path}: ${JSON.stringify(violations)}`,
      );
    }
    // Readers are not writers: the rule is the same whoever asks.
    errorOf(
      await post('/api/v1/orgs/default/keys', JSON.stringify({ name: 'x' }), 'application/json', readKey),
      403,
      'FORBIDDEN',
    );
  });
});
