/**
 * `npm run bench:auth`: what a refused credential costs, by what it names. An attacker
 * without a credential must not learn from the time of a 401 whether an API key id or an organization exists,
 * and must not make the store work for each request.
 *
 * Against one `openua serve`, sequential requests (one connection), the cases interleaved so that drift in the
 * machine's load touches all alike; it prints the median and p90 of each, in ms, and the store reads the server
 * counted (`openua_store_query_duration_seconds_count{operation="find"}`) during each case. It asserts nothing:
 * the machines are shared, and only the comparison within one run means anything.
 *
 * - a known key id with a wrong secret, and the same unknown key id again and again, should take the same time;
 * - a fresh unknown key id each time is one store read each (an id is remembered once tried, not before): what
 *   every unknown id cost before the negative cache, and still the cost of a flood of random ids;
 * - a search token for a known organization with a bad signature, and one for an organization that does not
 *   exist (a fresh name each time), should take the same time and cost no store read.
 *
 * Environment: BENCH_REQUESTS per case (2000).
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { createKey, newMasterKey, removeDir, spawnServer, tempDir } from '../test/helpers/server.ts';
import { envInt } from './processes.ts';

const requests = envInt('BENCH_REQUESTS', 2000);
const dataDir = tempDir('openua-bench-auth-');
const masterKey = newMasterKey();
const server = await spawnServer(dataDir, masterKey, {
  OPENUA_LOG_LEVEL: 'warn',
  OPENUA_ALERT_INTERVAL_SECONDS: '0',
});

try {
  const target = { url: server.url, masterKey } as Parameters<typeof createKey>[0];
  const known = await createKey(target, ['analytics:write']);
  const knownWrongSecret = `${known.slice(0, 21)}${'B'.repeat(43)}`;
  const sameUnknown = `oua_${randomBytes(8).toString('hex')}_${'B'.repeat(43)}`;
  const freshUnknown = () => `oua_${randomBytes(8).toString('hex')}_${'B'.repeat(43)}`;
  const token = (organization: string) =>
    new SignJWT({ organization, userIds: [{ name: 'eve@example.com', type: 'User' }] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(Buffer.from('not any organization secret'));
  let n = 0;
  const cases: [string, () => Promise<string> | string][] = [
    ['API key: known id, wrong secret', () => knownWrongSecret],
    ['API key: the same unknown id', () => sameUnknown],
    ['API key: a fresh unknown id each time', freshUnknown],
    ['search token: known organization, bad signature', () => token('default')],
    ['search token: unknown organization', () => token(`nobody-${++n}`)],
  ];

  const finds = async () => {
    const text = await (
      await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${masterKey}` } })
    ).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('openua_store_query_duration_seconds_count{operation="find"'));
    return Number(line?.split(' ').pop() ?? Number.NaN);
  };

  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  const reads = new Map<string, number>(cases.map(([name]) => [name, 0]));
  const body = JSON.stringify({ eventType: 'bench', eventValue: 'auth', language: 'en' });
  for (let i = 0; i < requests + 100; i++) {
    for (const [name, credential] of cases) {
      const bearer = await credential();
      const before = i >= 100 ? await finds() : 0;
      const started = performance.now();
      const answer = await fetch(`${server.url}/rest/ua/v15/analytics/custom`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body,
      });
      await answer.arrayBuffer();
      const took = performance.now() - started;
      if (answer.status === 200) throw new Error(`${name}: accepted`);
      if (i < 100) continue; // warm-up
      (times.get(name) as number[]).push(took);
      reads.set(name, (reads.get(name) ?? 0) + (await finds()) - before);
    }
  }
  const quantile = (values: number[], q: number) =>
    [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))] ?? Number.NaN;
  console.log(`${requests} requests per case, interleaved, one connection`);
  for (const [name] of cases) {
    const values = times.get(name) as number[];
    console.log(
      `${name.padEnd(50)} p50 ${quantile(values, 0.5).toFixed(3)} ms  p90 ${quantile(values, 0.9).toFixed(3)} ms  store reads ${reads.get(name)}`,
    );
  }
  // The baseline is the first case, a known key id with a wrong secret: 1.00 means indistinguishable.
  const [baseline] = cases;
  const p50 = (name: string) => quantile(times.get(name) as number[], 0.5);
  for (const [name] of cases.slice(1)) {
    console.log(
      `p50 ratio to "${baseline?.[0]}": ${name}: ${(p50(name) / p50(baseline?.[0] as string)).toFixed(2)}`,
    );
  }
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  removeDir(dataDir);
}
