import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorOf, violationsOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';
import { mintToken, storedWhere, UA_PREFIXES, validSearchEvent } from '../helpers/ua.ts';

/**
 * `POST /analytics/searches`: a JSON array of search events, answered as Coveo answers it,
 * `{searchEventResponses: [...]}` with one search answer per item.
 */

let server: TestServer;
let writeKey: string;
serverForSuite(async (started) => {
  server = started;
  writeKey = await createKey(server, ['analytics:write']);
});

const postSearches = (body: unknown, token = writeKey, prefix: string = UA_PREFIXES[0]) =>
  call<{ searchEventResponses: Record<string, unknown>[] }>(`${server.url}${prefix}/searches`, {
    token,
    body,
  });

describe('POST /searches', () => {
  for (const prefix of UA_PREFIXES) {
    it(`${prefix}: answers {searchEventResponses}, in order, each naming its stored search`, async () => {
      const clientId = randomUUID();
      const searches = ['first', 'second', 'third'].map((queryText) =>
        validSearchEvent({ queryText, clientId, actionCause: 'interfaceLoad' }),
      );
      const answer = await postSearches(searches, writeKey, prefix);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(Object.keys(answer.body), ['searchEventResponses']);
      const responses = answer.body.searchEventResponses;
      assert.ok(Array.isArray(responses));
      assert.equal(responses.length, 3);
      const stored = await storedWhere(server, (e) => e.clientId === clientId);
      assert.equal(stored.length, 3);
      responses.forEach((item, index) => {
        assert.deepEqual(Object.keys(item), ['searchEventUid', 'visitId', 'visitorId', 'clientId']);
        const match = stored.find((e) => e.id === item.searchEventUid);
        assert.ok(match, `answer ${index} names a stored search`);
        assert.equal(match.queryText, searches[index]?.queryText);
        assert.equal(match.searchQueryUid, searches[index]?.searchQueryUid);
        assert.equal(item.clientId, clientId);
      });
      assert.equal(new Set(responses.map((a) => a.visitId)).size, 1, 'one visitor, one visit');
      assert.equal(new Set(stored.map((e) => String(e.receivedTime))).size, 1, 'a batch shares one time');
    });
  }

  it('one invalid item refuses the batch, naming the item and field, and stores none of it', async () => {
    const clientId = randomUUID();
    const answer = await postSearches([
      validSearchEvent({ clientId }),
      validSearchEvent({ clientId, responseTime: 0 }),
      validSearchEvent({ clientId, queryText: undefined, customData: { 'bad-key': 1 } }),
    ]);
    const violations = violationsOf(answer);
    assert.deepEqual(violations.map((v) => [v.field, v.rule]).sort(), [
      ['[1].responseTime', 'minimum'],
      ['[2].customData.bad-key', 'keyCharacters'],
      ['[2].queryText', 'required'],
    ]);
    assert.equal(violations.find((v) => v.field === '[1].responseTime')?.received, 0);
    assert.deepEqual(await storedWhere(server, (e) => e.clientId === clientId), []);
  });

  it('an item that impersonates without the privilege refuses the batch with 403, naming the item', async () => {
    const clientId = randomUUID();
    const answer = await postSearches([
      validSearchEvent({ clientId }),
      validSearchEvent({ clientId, username: 'x' }),
    ]);
    const body = errorOf(answer, 403, 'FORBIDDEN');
    assert.deepEqual(
      body.violations?.map((v) => v.field),
      ['[1].username'],
    );
    assert.deepEqual(await storedWhere(server, (e) => e.clientId === clientId), []);
  });

  it('a body that is not an array of 1 to 100 objects is refused, saying what it got', async () => {
    const notArray = violationsOf(await postSearches(validSearchEvent()));
    assert.deepEqual(
      notArray.map((v) => [v.field, v.rule, v.received]),
      [['', 'type', 'object']],
    );
    const empty = violationsOf(await postSearches([]));
    assert.deepEqual(
      empty.map((v) => [v.rule, v.received]),
      [['minItems', 0]],
    );
    const tooMany = violationsOf(await postSearches(Array.from({ length: 101 }, () => validSearchEvent())));
    assert.deepEqual(
      tooMany.map((v) => [v.rule, v.limit, v.received]),
      [['maxItems', 100, 101]],
    );
    const notObjects = violationsOf(await postSearches([validSearchEvent(), 'search', null]));
    assert.deepEqual(
      notObjects.map((v) => [v.field, v.received]),
      [
        ['[1]', 'string'],
        ['[2]', null],
      ],
    );
  });

  it('100 searches are taken in one request', async () => {
    const clientId = randomUUID();
    const answer = await postSearches(Array.from({ length: 100 }, () => validSearchEvent({ clientId })));
    assert.equal(answer.status, 200, JSON.stringify(answer.body).slice(0, 500));
    assert.equal(new Set(answer.body.searchEventResponses.map((a) => a.searchEventUid)).size, 100);
    assert.equal((await storedWhere(server, (e) => e.clientId === clientId)).length, 100);
  });

  it("a search token's groups are added to every item", async () => {
    const token = await mintToken(server, { userId: 'dave@example.com', userGroups: ['agents'] });
    const clientId = randomUUID();
    const answer = await postSearches(
      [validSearchEvent({ clientId }), validSearchEvent({ clientId, userGroups: ['beta'] })],
      token,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const groups = (await storedWhere(server, (e) => e.clientId === clientId)).map((e) => e.userGroups);
    assert.deepEqual(groups.map((g) => JSON.stringify(g)).sort(), ['["agents"]', '["beta","agents"]']);
  });

  it('needs a credential with analytics:write', async () => {
    errorOf(await postSearches([validSearchEvent()], ''), 401, 'UNAUTHENTICATED');
    const readKey = await createKey(server, ['analytics:read']);
    errorOf(await postSearches([validSearchEvent()], readKey), 403, 'FORBIDDEN');
  });
});
