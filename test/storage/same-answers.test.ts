import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QUERIES, QUERY_DIMENSIONS, QUERY_END, QUERY_ORG } from '../../bench/query-set.ts';
import { writeDemo } from '../../src/demo/demo-writer.ts';
import type { Services } from '../../src/startup/services.ts';
import { type ClickHouseServers, skipReason, startClickHouse } from '../helpers/clickhouse.ts';
import { removeDir, tempDir } from '../helpers/server.ts';
import { answersOf, assertSameAnswers, kpiSpecs, openServices } from './answers.ts';

/**
 * Same answers (issue 17): a seeded slice of the demo month, written through the storage contract into DuckDB, into
 * one ClickHouse and into a two-shard ClickHouse cluster, gives identical results on all three for every
 * `npm run bench:query` query and every KPI of the catalogue (each of its parameters' values too), through the query
 * layer a server answers with. The slice is the month's span with 20,000 events (the queries reach 30 days back, and
 * one compares with the 14 days before).
 */

const EVENTS = 20_000;
const DAYS = 30;
const from = new Date(QUERY_END.getTime() - DAYS * 86_400_000).toISOString();
const to = QUERY_END.toISOString();

async function fill(services: Services) {
  for (const dimension of QUERY_DIMENSIONS) await services.dimensions.create(QUERY_ORG, dimension);
  return writeDemo(services.storage, services.channelRecords, {
    seed: 17,
    org: QUERY_ORG,
    events: EVENTS,
    days: DAYS,
    end: QUERY_END,
    batchSize: 5_000,
  });
}

const clickhouse: ClickHouseServers | undefined = await startClickHouse();
const cluster: ClickHouseServers | undefined = clickhouse && (await startClickHouse({ shards: 2 }));

describe('the same demo slice on DuckDB, on ClickHouse and on a two-shard cluster', {
  skip: !(clickhouse && cluster) && skipReason(),
}, () => {
  const dirs = [0, 1, 2].map((i) => tempDir(`openua-same-${i}-`));
  const engines = new Map<string, Services>();
  const specs = [...QUERIES, ...kpiSpecs(from, to)];

  before(async () => {
    const settings: [string, Record<string, string>][] = [
      ['DuckDB', {}],
      ['ClickHouse', { OPENUA_CLICKHOUSE_URL: clickhouse?.url as string }],
      [
        'the two-shard cluster',
        {
          OPENUA_CLICKHOUSE_URL: cluster?.url as string,
          OPENUA_CLICKHOUSE_CLUSTER: cluster?.cluster as string,
          OPENUA_CLICKHOUSE_SHARDS: cluster?.shardUrls.join(',') as string,
        },
      ],
    ];
    for (const [i, [name, env]] of settings.entries()) {
      const services = await openServices({
        OPENUA_DATA_DIR: dirs[i] as string,
        OPENUA_CLICKHOUSE_DATABASE: 'same_answers',
        ...env,
      });
      engines.set(name, services);
      assert.ok((await fill(services)) >= EVENTS);
    }
  });

  after(async () => {
    for (const services of engines.values()) await services.close();
    await clickhouse?.stop();
    await cluster?.stop();
    for (const dir of dirs) removeDir(dir);
  });

  it('stores the same events', async () => {
    const counts = new Map<string, number | undefined>();
    for (const [name, services] of engines)
      counts.set(name, (await services.storage.queryEvents(QUERY_ORG, { limit: 1, count: true })).count);
    assert.equal(new Set(counts.values()).size, 1, JSON.stringify([...counts]));
  });

  it('answers every bench:query query and every KPI of the catalogue alike', async () => {
    const answers = new Map<string, Awaited<ReturnType<typeof answersOf>>>();
    for (const [name, services] of engines)
      answers.set(name, await answersOf(services, QUERY_ORG, specs, QUERY_END));
    const reference = answers.get('DuckDB');
    assert.ok(reference);
    // Not empty: engines that answer nothing would agree.
    const empty = [...reference].filter(([, a]) => a.rows.length === 0).map(([name]) => name);
    assert.deepEqual(empty, [], 'every spec has rows on DuckDB');
    for (const [name, other] of answers) assertSameAnswers(reference, other, ['DuckDB', name]);
  });
});
