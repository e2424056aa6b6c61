import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { AuditLog } from '../../src/privacy/audit-log.ts';
import { EVENT_FIELDS } from '../../src/storage/event-fields.ts';
import { openua } from '../helpers/cli.ts';
import { testStorage } from '../helpers/engine.ts';
import { canonicalEvent } from '../helpers/events.ts';
import {
  CUSTOM_PATH,
  call,
  createKey,
  readEvents,
  removeDir,
  serverForSuite,
  startServer,
  type TestServer,
  tempDir,
} from '../helpers/server.ts';
import { validSearchEvent } from '../helpers/ua.ts';

/**
 * GET /api/v1/export and `openua export`: each format read back (CSV and NDJSON re-read, Parquet by DuckDB) gives
 * the rows GET /api/v1/events answers; the range and filters select exactly their events, of one organization.
 */

type Event = Record<string, unknown>;

/** Values that break naive writers: separators, quotes, line breaks, non-ASCII, formula-like text. */
const AWKWARD = [
  { eventValue: 'comma, "quote"\nline\r\ncrlf', customData: { 'Facet Id': 'a,b', note: 'ünïcødé 🚀 "q"' } },
  { eventValue: '=SUM(A1)+1', customData: {} },
  { eventValue: '-1', customData: { empty: '', lead: '@at' } },
  { eventValue: 'ordinary', customData: { only: 'x' } },
];

let server: TestServer;
let work: string;

const download = (query: string, token = server.masterKey, signal?: AbortSignal) =>
  fetch(`${server.url}/api/v1/export?${query}`, { headers: { authorization: `Bearer ${token}` }, signal });

/** The events API's answer, oldest first: the export's order. */
async function stored(token = server.masterKey, org = 'default'): Promise<Event[]> {
  const events = await readEvents(server, token, `&org=${org}`);
  return events.sort(
    (a, b) =>
      String(a.derivedTime).localeCompare(String(b.derivedTime)) || String(a.id).localeCompare(String(b.id)),
  );
}

/** Rows of a query over a file, by an in-memory DuckDB: the reader a user would pick. */
async function duckRows(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const sqlText = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** A CSV export's rows as events: each column by its field's type (lists, objects and customData are JSON). */
async function csvEvents(file: string): Promise<Event[]> {
  const rows = await duckRows(
    `SELECT * FROM read_csv(${sqlText(file)}, header = true, all_varchar = true, allow_quoted_nulls = false, ` +
      `delim = ',', quote = '"', escape = '"')`,
  );
  return rows.map((row) => {
    const event: Event = {};
    for (const { field, type } of EVENT_FIELDS.values()) {
      const value = row[field] as string | null;
      event[field] =
        value === null
          ? null
          : type === 'integer'
            ? Number(value)
            : type === 'boolean'
              ? value === 'true'
              : type === 'text[]' || type === 'json'
                ? JSON.parse(value)
                : value;
    }
    event.customData = JSON.parse(row.customData as string);
    return event;
  });
}

/** A Parquet export's rows as events: times as ISO text, json fields parsed, customData's map as an object. */
async function parquetEvents(file: string): Promise<Event[]> {
  const rows = await duckRows(`SELECT * FROM read_parquet(${sqlText(file)})`);
  return rows.map((row) => {
    const event: Event = {};
    for (const { field, type } of EVENT_FIELDS.values()) {
      const value = row[field];
      event[field] =
        value === null
          ? null
          : type === 'timestamp'
            ? (value as Date).toISOString()
            : type === 'json'
              ? JSON.parse(value as string)
              : value;
    }
    const map = row.customData as { key: string; value: string }[];
    event.customData = Object.fromEntries(map.map(({ key, value }) => [key, value]));
    return event;
  });
}

describe('raw export', () => {
  serverForSuite((started) => {
    server = started;
  });

  before(async () => {
    work = tempDir('openua-export-test-');
    for (const { eventValue, customData } of AWKWARD) {
      const answer = await call(`${server.url}${CUSTOM_PATH}`, {
        token: server.masterKey,
        body: {
          eventType: 'awkward',
          ...(eventValue !== null && { eventValue }),
          language: 'en',
          customData,
        },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    const search = await call(`${server.url}/rest/ua/v15/analytics/search`, {
      token: server.masterKey,
      body: validSearchEvent({
        queryText: '',
        userGroups: ['g1', 'g,2', 'g"3'],
        facetState: [{ field: '@x', value: 'a"b,c' }],
        customData: { k: 'v' },
      }),
    });
    assert.equal(search.status, 200, JSON.stringify(search.body));
    // Another organization's events, which no export of `default` may hold.
    const org = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: 'other' } });
    assert.equal(org.status, 201, JSON.stringify(org.body));
    const otherKey = await createKey(server, ['analytics:write'], 'other');
    for (let i = 0; i < 3; i++) {
      const answer = await call(`${server.url}${CUSTOM_PATH}`, {
        token: otherKey,
        body: { eventType: 'awkward', eventValue: `other ${i}`, language: 'en' },
      });
      assert.equal(answer.status, 200);
    }
  });

  after(() => removeDir(work));

  describe('GET /api/v1/export', () => {
    it('streams NDJSON: one line per event, exactly as GET /api/v1/events answers it, oldest first', async () => {
      const response = await download('format=ndjson');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
      assert.match(
        response.headers.get('content-disposition') ?? '',
        /^attachment; filename="openua-default-.*\.ndjson"$/,
      );
      const text = await response.text();
      const lines = text.split('\n');
      assert.equal(lines.pop(), '', 'every line ends with a line break');
      const expected = await stored();
      assert.equal(Number(response.headers.get('x-total-count')), expected.length);
      assert.deepEqual(
        lines.map((line) => JSON.parse(line)),
        expected,
      );
      assert.ok(expected.length >= AWKWARD.length + 1);
    });

    it('streams CSV whose every value reads back as stored, awkward ones included', async () => {
      const response = await download('format=csv');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'text/csv; charset=utf-8');
      const text = await response.text();
      assert.ok(
        text.startsWith(`${[...EVENT_FIELDS.keys(), 'customData'].join(',')}\r\n`),
        'a header row of the canonical fields, then customData',
      );
      // Formula-like values are written as they are: the export is raw data (docs/api/export.md).
      assert.match(text, /,=SUM\(A1\)\+1,/);
      const file = path.join(work, 'events.csv');
      writeFileSync(file, text);
      const expected = await stored();
      assert.equal(Number(response.headers.get('x-total-count')), expected.length);
      assert.deepEqual(await csvEvents(file), expected);
    });

    it('writes Parquet that DuckDB reads back as the same rows, with typed columns', async () => {
      const response = await download('format=parquet');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/vnd.apache.parquet');
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.equal(Number(response.headers.get('content-length')), bytes.length);
      const file = path.join(work, 'events.parquet');
      writeFileSync(file, bytes);
      const expected = await stored();
      assert.equal(Number(response.headers.get('x-total-count')), expected.length);
      assert.deepEqual(await parquetEvents(file), expected);
      const types = Object.fromEntries(
        (await duckRows(`DESCRIBE SELECT * FROM read_parquet(${sqlText(file)})`)).map((r) => [
          r.column_name,
          r.column_type,
        ]),
      );
      assert.equal(types.derivedTime, 'TIMESTAMP');
      assert.equal(types.userGroups, 'VARCHAR[]');
      assert.equal(types.anonymous, 'BOOLEAN');
      assert.equal(types.customData, 'MAP(VARCHAR, VARCHAR)');
    });

    it('holds exactly the events of [from, to) that match eventType and filter', async () => {
      const all = await stored();
      const times = [...new Set(all.map((e) => e.derivedTime as string))].sort();
      assert.ok(times.length >= 4, 'the events have distinct enough times');
      const [from, to] = [times[1] as string, times[3] as string];
      const inRange = all.filter((e) => (e.derivedTime as string) >= from && (e.derivedTime as string) < to);
      const ids = async (query: string) => {
        const response = await download(`format=ndjson&${query}`);
        assert.equal(response.status, 200, await response.clone().text());
        const text = await response.text();
        const got = text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l).id as string);
        assert.equal(Number(response.headers.get('x-total-count')), got.length);
        return got;
      };
      const range = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
      assert.deepEqual(
        await ids(range),
        inRange.map((e) => e.id),
      );
      assert.ok(inRange.length > 0 && inRange.length < all.length);

      assert.deepEqual(
        await ids('eventType=awkward'),
        all.filter((e) => e.eventType === 'awkward').map((e) => e.id),
      );
      const filter = JSON.stringify({
        or: [
          { field: 'customData.note', op: 'contains', value: 'ü' },
          { field: 'eventValue', op: 'eq', value: '-1' },
        ],
      });
      const matching = all.filter(
        (e) =>
          String((e.customData as Record<string, string>).note ?? '').includes('ü') || e.eventValue === '-1',
      );
      assert.equal(matching.length, 2);
      assert.deepEqual(
        await ids(`filter=${encodeURIComponent(filter)}`),
        matching.map((e) => e.id),
      );
    });

    it("never holds another organization's events, and a key of that organization exports only its own", async () => {
      const mine = await download('format=ndjson');
      const lines = (await mine.text())
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.ok(lines.every((e) => e.org === 'default'));
      const otherRead = await createKey(server, ['analytics:read'], 'other');
      const theirs = await download('format=ndjson', otherRead);
      const their = (await theirs.text())
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.equal(their.length, 3);
      assert.ok(their.every((e) => e.org === 'other'));
    });

    it('records each export in the audit log: who, how many rows, the format, range and filter', async () => {
      const reader = await createKey(server, ['analytics:read']);
      const response = await download('format=csv&eventType=awkward', reader);
      const rows = Number(response.headers.get('x-total-count'));
      await response.arrayBuffer();
      const { entries } = await new AuditLog(server.services.storage).list('default', {
        action: 'export',
        limit: 1,
      });
      const [entry] = entries;
      assert.equal(entry?.actorKind, 'apiKey');
      assert.equal(entry?.rows, rows);
      assert.equal(entry?.details?.format, 'csv');
      assert.equal(entry?.details?.eventType, 'awkward');
      assert.ok(typeof entry?.details?.from === 'string' && typeof entry?.details?.to === 'string');

      // A filter naming a person is kept only as its keyed hash: the log is never erased.
      const filter = JSON.stringify({ field: 'visitorId', op: 'eq', value: 'audit-export-person' });
      const filtered = await download(`format=ndjson&filter=${encodeURIComponent(filter)}`, reader);
      assert.equal(filtered.status, 200);
      await filtered.arrayBuffer();
      const [last] = (
        await new AuditLog(server.services.storage).list('default', { action: 'export', limit: 1 })
      ).entries;
      assert.match(String(last?.details?.filterHash), /^hmac-sha256:[0-9a-f]{64}$/);
      assert.ok(!JSON.stringify(last).includes('audit-export-person'), JSON.stringify(last));
    });

    it('refuses a key without analytics:read (403)', async () => {
      const writeOnly = await createKey(server, ['analytics:write']);
      const response = await download('format=csv', writeOnly);
      assert.equal(response.status, 403);
    });

    it('refuses a bad format, an empty range and a bad filter, naming field, rule and value', async () => {
      const refusal = async (query: string) => {
        const response = await download(query);
        assert.equal(response.status, 400);
        return (
          (await response.json()) as { violations: { field: string; rule: string; received?: unknown }[] }
        ).violations;
      };
      const [format] = await refusal('format=xml');
      assert.equal(format?.field, 'format');
      assert.equal(format?.rule, 'enum');
      assert.equal(format?.received, 'xml');

      const [range] = await refusal('format=csv&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z');
      assert.deepEqual(
        [range?.field, range?.rule, range?.received],
        ['from', 'range', '2026-01-02T00:00:00Z'],
      );

      const [json] = await refusal('format=csv&filter=%7Bnope');
      assert.deepEqual([json?.field, json?.rule, json?.received], ['filter', 'json', '{nope']);

      const [field] = await refusal(
        `format=csv&filter=${encodeURIComponent('{"field":"nope","op":"eq","value":1}')}`,
      );
      assert.deepEqual([field?.field, field?.rule, field?.received], ['filter.field', 'field', 'nope']);
    });

    it('stops cleanly when the client goes away mid-download, and serves the next export', async () => {
      const bulkKey = await (async () => {
        const org = await call(`${server.url}/api/v1/orgs`, {
          token: server.masterKey,
          body: { id: 'bulk' },
        });
        assert.equal(org.status, 201);
        return createKey(server, ['analytics:write', 'analytics:read'], 'bulk');
      })();
      const padding = 'x'.repeat(1000);
      for (let batch = 0; batch < 6; batch++) {
        const events = Array.from({ length: 1000 }, (_, i) => ({
          kind: 'custom',
          eventId: randomUUID(),
          eventType: 'bulk',
          eventValue: `${batch}-${i}`,
          language: 'en',
          customData: { padding },
        }));
        const answer = await call(`${server.url}/api/v1/events/batch`, { token: bulkKey, body: { events } });
        assert.equal(answer.status, 200);
      }
      for (const format of ['csv', 'ndjson', 'parquet']) {
        const abort = new AbortController();
        const response = await download(`format=${format}`, bulkKey, abort.signal);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('x-total-count'), '6000');
        const reader = response.body?.getReader();
        const first = await reader?.read();
        assert.ok(first?.value && first.value.length > 0);
        abort.abort();
        await reader?.cancel().catch(() => undefined);
      }
      // The server is fine, and the next export is whole.
      const whole = await download('format=ndjson', bulkKey);
      assert.equal(whole.status, 200);
      const lines = (await whole.text()).split('\n').filter(Boolean);
      assert.equal(lines.length, 6000);
      assert.equal((await call(`${server.url}/ready`)).status, 200);
    });
  });

  describe('Storage.scanEvents', () => {
    it('reads a range of many minutes in one order (derived time, then id), each event once, as counted', async () => {
      const dir = tempDir('openua-scan-');
      const storage = await testStorage(dir);
      try {
        await storage.migrate([]);
        const start = Date.parse('2026-03-01T00:00:00Z');
        // 50,000 events over 50 minutes, ten to a millisecond: a scan of more than one window, with ties.
        for (let batch = 0; batch < 5; batch++) {
          const events = Array.from({ length: 10_000 }, (_, i) => {
            const n = batch * 10_000 + i;
            const time = new Date(start + Math.floor(n / 10) * 600);
            return canonicalEvent({
              org: 'scan',
              eventValue: String(n),
              receivedTime: time,
              derivedTime: time,
            });
          });
          await storage.appendEvents(events);
        }
        const range = { from: new Date(start + 60_000), to: new Date(start + 49 * 60_000) };
        const scan = await storage.scanEvents('scan', range);
        let seen = 0;
        let last = '';
        const ids = new Set<string>();
        for await (const chunk of scan.chunks) {
          for (const event of chunk) {
            const key = `${event.derivedTime.toISOString()} ${event.id}`;
            assert.ok(key > last, `${key} after ${last}`);
            last = key;
            ids.add(event.id);
            seen++;
          }
        }
        // Minutes 1 to 48: 1,000 events a minute.
        assert.equal(scan.rows, 48_000);
        assert.equal(seen, 48_000);
        assert.equal(ids.size, 48_000);

        // Parquet, written window by window, holds them in the same order.
        const file = path.join(dir, 'scan.parquet');
        assert.equal(await storage.exportParquet('scan', range, file), 48_000);
        const written = (await duckRows(`SELECT derivedTime, id FROM read_parquet(${sqlText(file)})`)).map(
          (row) => `${(row.derivedTime as Date).toISOString()} ${row.id}`,
        );
        assert.equal(written.length, 48_000);
        assert.equal(new Set(written).size, 48_000);
        assert.ok(written.every((key, i) => i === 0 || key > (written[i - 1] as string)));
      } finally {
        await storage.close();
        removeDir(dir);
      }
    });
  });

  describe('openua export', () => {
    it('writes the same file as the route, over HTTP, with progress on stderr', async () => {
      for (const format of ['csv', 'ndjson', 'parquet']) {
        const out = path.join(work, `cli.${format}`);
        const run = await openua(
          [
            'export',
            '--format',
            format,
            '--to',
            new Date(Date.now() + 60_000).toISOString(),
            '--out',
            out,
            '--server',
            server.url,
          ],
          { OPENUA_MASTER_KEY: server.masterKey },
        );
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /export \[.*\] 100% \| \d+\/\d+ (events|bytes)/);
        const written = readFileSync(out);
        if (format === 'parquet') {
          assert.deepEqual(await parquetEvents(out), await stored());
        } else {
          const route = await download(
            `format=${format}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
          );
          assert.equal(written.toString('utf8'), await route.text());
        }
      }
    });

    it('opens the store itself when no server holds it, and writes what the server answered', async () => {
      const own = await startServer();
      try {
        for (const { eventValue, customData } of AWKWARD) {
          const answer = await call(`${own.url}${CUSTOM_PATH}`, {
            token: own.masterKey,
            body: { eventType: 'awkward', eventValue, language: 'en', customData },
          });
          assert.equal(answer.status, 200);
        }
        const to = new Date(Date.now() + 60_000).toISOString();
        const served = await (
          await fetch(`${own.url}/api/v1/export?format=csv&to=${encodeURIComponent(to)}`, {
            headers: { authorization: `Bearer ${own.masterKey}` },
          })
        ).text();
        await own.close();
        const out = path.join(work, 'local.csv');
        const run = await openua(['export', '--format', 'csv', '--to', to, '--out', out], {
          OPENUA_DATA_DIR: own.dataDir,
        });
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, new RegExp(`\\| ${AWKWARD.length}/${AWKWARD.length} events`));
        assert.equal(readFileSync(out, 'utf8'), served);
      } finally {
        removeDir(own.dataDir);
      }
    });

    it('says what is wrong in one line, with the violation', async () => {
      const run = await openua(
        [
          'export',
          '--format',
          'csv',
          '--from',
          '2026-01-02T00:00:00Z',
          '--to',
          '2026-01-01T00:00:00Z',
          '--out',
          '-',
          '--server',
          server.url,
        ],
        { OPENUA_MASTER_KEY: server.masterKey },
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /openua: 400: .*from/);
      assert.match(run.stderr, /from: must be before "to"/);
    });
  });
});
