import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { violationsOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * The names a query gives its outputs (`as` on a measure or a KPI), on the query API and in alert rules: a
 * character rule and a length, so that a name is a safe column of the answer (JSON keys, CSV headers) and of
 * the SQL the engines run.
 */

let server: TestServer;
let readKey: string;
let adminKey: string;
serverForSuite(async (started) => {
  server = started;
  readKey = await createKey(server, ['analytics:read']);
  adminKey = await createKey(server, ['admin', 'analytics:read']);
});

const OUTPUT_NAME = '^[A-Za-z_][A-Za-z0-9_-]{0,63}$';

const query = (body: unknown) => call(`${server.url}/api/v1/query`, { token: readKey, body });

describe('measure names', () => {
  // Found by the fuzzer: a name looked up in a plain object found Object.prototype's "constructor" (500).
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    it(`${name} is not a measure: 400 naming it, not a 500`, async () => {
      const answer = await query({ measures: ['count', name] });
      const violations = violationsOf(answer);
      assert.deepEqual(
        violations.map((v) => [v.field, v.rule, v.received]),
        [['measures[1]', 'measure', name]],
      );
    });
  }
});

describe('output names (as)', () => {
  it('a measure named with NUL is a 400 naming the field and what was received, not a 500', async () => {
    const answer = await query({ measures: [{ fn: 'sum', field: 'documentPosition', as: 'a\u0000b' }] });
    const [violation, ...more] = violationsOf(answer);
    assert.equal(more.length, 0, JSON.stringify(more));
    assert.equal(violation?.field, 'measures[0].as');
    assert.equal(violation?.received, 'a\u0000b');
  });

  for (const [label, as] of [
    ['a control character', 'a\u0001b'],
    ['a space', 'wait time'],
    ['a quote', 'a"b'],
    ['a dot (answers use it: previous.<name>, customData.<key>)', 'previous.total'],
    ['a leading digit', '1st'],
    ['65 characters', `a${'b'.repeat(64)}`],
    ['nothing', ''],
    ['a number', 7],
  ] as const) {
    it(`a measure or a KPI named with ${label} is refused by the output-name rule`, async () => {
      const answer = await query({
        measures: [
          { fn: 'sum', field: 'documentPosition', as },
          { kpi: 'serviceLevel', as },
        ],
      });
      assert.deepEqual(
        violationsOf(answer).map((v) => [v.field, v.rule, v.limit, v.received]),
        [
          ['measures[0].as', 'pattern', OUTPUT_NAME, as],
          ['measures[1].as', 'pattern', OUTPUT_NAME, as],
        ],
      );
    });
  }

  it('ASCII letters, digits, _ and - up to 64 characters are names', async () => {
    const names = ['total', '_x', 'avg-wait-time_2', `a${'b'.repeat(63)}`];
    const answer = await query({
      measures: names.map((as) => ({ fn: 'sum', field: 'documentPosition', as })),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual((answer.body as { meta: { columns: string[] } }).meta.columns, names);
  });

  it('an alert rule whose measure is named badly is refused the same way, as the rule names it', async () => {
    const answer = await call(`${server.url}/api/v1/alert-rules`, {
      token: adminKey,
      body: {
        name: 'named',
        measure: { fn: 'sum', field: 'documentPosition', as: 'x y' },
        comparison: 'gt',
        threshold: 1,
        windowMinutes: 5,
        webhookUrl: 'https://hooks.example.com/x',
      },
    });
    assert.deepEqual(
      violationsOf(answer).map((v) => [v.field, v.rule, v.received]),
      [['measure.as', 'pattern', 'x y']],
    );
  });
});
