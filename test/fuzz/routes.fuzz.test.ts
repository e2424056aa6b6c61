import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { registeredRoutes, routeName } from '../helpers/routes.ts';
import { call, readEvents, serverForSuite, type TestServer, validCustomEvent } from '../helpers/server.ts';
import { fuzz, showFinding } from './harness.ts';
import { type Fixtures, makeFixtures } from './targets.ts';

/**
 * The seeded fuzz run inside `npm test`: FUZZ_TEST_RUNS cases (5,000) over every route that takes a body,
 * through real HTTP, with the master key and a write-only key. No answer may be a 5xx but a deliberate 503,
 * no JSON body that is not UTF-8 may be accepted, and afterwards the server is still healthy and still stores
 * a valid event. A failure prints each distinct defect's shrunk request and how to replay it. `npm run fuzz`
 * is the long run (test/fuzz/run.ts).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const RUNS = Number(process.env.FUZZ_TEST_RUNS ?? 5_000);
// Four seed streams at once keep the server's disk and store busy while the event loop builds the next case.
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 4);

let server: TestServer;
let fixtures: Fixtures;
serverForSuite(async (started) => {
  server = started;
  fixtures = await makeFixtures(server);
});

/** The second UA prefix serves the same handlers as the first: fuzzing one of them covers both. */
const canonical = (route: string) => route.replace(' /rest/v15/', ' /rest/ua/v15/');

describe('fuzzing every route that takes a body', () => {
  it('targets every POST, PATCH and PUT the server registers', () => {
    const bodyRoutes = registeredRoutes(server.app)
      .filter((r) => ['POST', 'PATCH', 'PUT'].includes(r.method))
      .map((r) => canonical(routeName(r)));
    const missing = [...new Set(bodyRoutes)].filter((r) => !fixtures.covered.has(r));
    assert.deepEqual(
      missing,
      [],
      'a route that takes a body has no fuzz target: add one to test/fuzz/targets.ts',
    );
  });

  it(`answers ${RUNS} seeded cases with no 5xx and no accepted non-UTF-8 body (seed ${SEED})`, async (t) => {
    const report = await fuzz({
      url: server.url,
      fixtures,
      numRuns: RUNS,
      seed: SEED,
      concurrency: CONCURRENCY,
      shrinkBudget: 120,
    });
    t.diagnostic(
      `${report.cases} cases (${report.requests} requests with shrinking) over ${fixtures.targets.length} targets in ${(report.elapsedMs / 1000).toFixed(1)} s`,
    );
    const secrets = { MASTER_KEY: fixtures.keys.master, WRITE_KEY: fixtures.keys.write };
    const shown = report.findings.map((f, i) => `${i + 1}. ${showFinding(f, secrets)}`).join('\n\n');
    assert.equal(
      report.findings.length,
      0,
      `the fuzzer found ${report.findings.length} defects:\n\n${shown}\n`,
    );
  });

  it('leaves the server healthy, and storing valid events', async () => {
    const health = await call(`${server.url}/rest/ua/v15/analytics/monitoring/health`);
    assert.equal(health.status, 200, JSON.stringify(health.body));
    assert.deepEqual(health.body, { status: 'UP' });
    const marker = `after-fuzz-${randomUUID()}`;
    const answer = await call(`${server.url}/rest/ua/v15/analytics/custom`, {
      token: fixtures.keys.write,
      body: validCustomEvent({ eventType: marker }),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const stored = await readEvents(server, server.masterKey, `&eventType=${marker}`);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.eventType, marker);
  });
});
