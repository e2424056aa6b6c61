import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { FIRST_PARTY_KPI_EVENTS } from '../../src/model/first-party-kpi-events.ts';
import { filter, ODATA, odataList, startConversation } from '../helpers/channel.ts';
import {
  CUSTOM_PATH,
  call,
  readEvents,
  removeDir,
  startServer,
  type TestServer,
  tempDir,
  validCustomEvent,
} from '../helpers/server.ts';
import { postEvent, validSearchEvent } from '../helpers/ua.ts';

/**
 * A data directory written by OpenUA 0.1.0 (before Channel Analytics): its tables lack the channel
 * columns and tables, its visitor columns are NOT NULL, and its ingest log holds events without channel
 * fields. The new version must open it, keep every event, and take channel analytics at once.
 */

/** The 0.1.0 schema, as that version created it. */
const OLD_SCHEMA = [
  `CREATE TABLE events (id VARCHAR NOT NULL, org VARCHAR NOT NULL, category VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL, event_value VARCHAR, event_time TIMESTAMP, sent_time TIMESTAMP,
    received_time TIMESTAMP NOT NULL, derived_time TIMESTAMP NOT NULL, language VARCHAR, username VARCHAR,
    user_display_name VARCHAR, anonymous BOOLEAN NOT NULL, client_id VARCHAR NOT NULL, visitor_id VARCHAR NOT NULL,
    visit_id VARCHAR NOT NULL, origin_context VARCHAR, origin_level1 VARCHAR, origin_level2 VARCHAR,
    origin_level3 VARCHAR, outcome INTEGER, split_test_run_name VARCHAR, split_test_run_version VARCHAR,
    tracking_id VARCHAR, last_search_query_uid VARCHAR, user_agent VARCHAR, correlation_id VARCHAR,
    credential_id VARCHAR NOT NULL, custom_keys VARCHAR[] NOT NULL, custom_values VARCHAR[] NOT NULL)`,
  'CREATE TABLE checkpoints (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)',
  `CREATE TABLE organizations ("id" VARCHAR, "name" VARCHAR, "token_secret" VARCHAR, "created_at" TIMESTAMP,
    PRIMARY KEY ("id"))`,
  `CREATE TABLE api_keys ("id" VARCHAR, "org" VARCHAR, "name" VARCHAR, "secret_hash" VARCHAR,
    "privileges" VARCHAR[], "created_at" TIMESTAMP, "revoked_at" TIMESTAMP, PRIMARY KEY ("id"))`,
  "INSERT INTO organizations VALUES ('default', 'Default organization', 'c2VjcmV0', now())",
  `INSERT INTO events VALUES ('0190f000-0000-7000-8000-000000000001', 'default', 'custom', 'old-type', 'old-value',
    NULL, NULL, '2025-06-01 10:00:00', '2025-06-01 10:00:00', 'en-US', 'anonymous', NULL, false,
    '11111111-1111-4111-8111-111111111111', '11111111-1111-4111-8111-111111111111', 'visit-1', NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'master', ['step'], ['one'])`,
];

/** An acknowledged event 0.1.0 left in its ingest log, not yet loaded: no channel fields at all. */
const OLD_LOGGED_EVENT = {
  id: '0190f000-0000-7000-8000-000000000002',
  org: 'default',
  category: 'custom',
  eventType: 'logged-before-upgrade',
  eventValue: 'v',
  eventTime: null,
  sentTime: null,
  receivedTime: '2025-06-01T10:05:00.000Z',
  derivedTime: '2025-06-01T10:05:00.000Z',
  language: 'en',
  username: 'anonymous',
  userDisplayName: null,
  anonymous: false,
  clientId: '22222222-2222-4222-8222-222222222222',
  visitorId: '22222222-2222-4222-8222-222222222222',
  visitId: 'visit-2',
  originContext: null,
  originLevel1: null,
  originLevel2: null,
  originLevel3: null,
  outcome: null,
  splitTestRunName: null,
  splitTestRunVersion: null,
  trackingId: null,
  lastSearchQueryUid: null,
  userAgent: null,
  correlationId: null,
  credentialId: 'master',
  customData: {},
};

describe('upgrading a 0.1.0 data directory', () => {
  const dataDir = tempDir('openua-upgrade-');
  after(() => removeDir(dataDir));

  it('keeps every event, loads the old log, and takes UA (search too) and channel events', async () => {
    const instance = await DuckDBInstance.create(path.join(dataDir, 'openua.duckdb'));
    const connection = await instance.connect();
    for (const sql of OLD_SCHEMA) await connection.run(sql);
    connection.closeSync();
    instance.closeSync();
    mkdirSync(path.join(dataDir, 'ingest-log'));
    writeFileSync(
      path.join(dataDir, 'ingest-log', '0000000001.log'),
      `${JSON.stringify([OLD_LOGGED_EVENT])}\n`,
    );

    const server = await startServer({ dataDir });
    try {
      assert.equal(server.services.recovered, 1, 'the old log record was loaded');
      const posted = await call(`${server.url}${CUSTOM_PATH}`, {
        token: server.masterKey,
        body: validCustomEvent({ eventType: 'after-upgrade' }),
      });
      assert.equal(posted.status, 200, JSON.stringify(posted.body));
      const conversation = await startConversation(server);
      const logged = await call(`${server.url}/api/v1/channel/logAnalyticsEvent`, {
        token: server.masterKey,
        body: {
          data: { ...conversation, events: [{ kpiEventName: 'SessionStarted' }] },
          eventName: 'SessionStarted',
        },
      });
      assert.equal(logged.status, 200, JSON.stringify(logged.body));
      const facetState = [{ field: '@source', state: 'selected' }];
      const searched = await postEvent(server, 'search', validSearchEvent({ facetState, userGroups: ['a'] }));
      assert.equal(searched.status, 200, JSON.stringify(searched.body));

      const events = await readEvents(server);
      const byType = new Map(events.map((e) => [e.eventType, e]));
      assert.deepEqual(byType.get('old-type')?.customData, { step: 'one' });
      assert.equal(byType.get('old-type')?.conversationId, null);
      assert.equal(
        byType.get('old-type')?.language,
        'en',
        'an old tag is split: the code where reports read it',
      );
      assert.equal(byType.get('old-type')?.languageTag, 'en-US', '…and the tag beside it');
      assert.equal(byType.get('logged-before-upgrade')?.visitId, 'visit-2');
      assert.equal(byType.get('after-upgrade')?.category, 'custom');
      const kpi = byType.get('SessionStarted');
      assert.equal(kpi?.conversationId, conversation.conversationId);
      assert.equal(kpi?.visitorId, null, 'the visitor columns lost NOT NULL');
      const search = byType.get('search');
      assert.deepEqual(search?.facetState, facetState, 'the search columns were added, lists and JSON too');
      assert.deepEqual(search?.userGroups, ['a']);
      assert.equal(byType.get('old-type')?.queryText, null);

      const [definition] = await odataList(
        server,
        'msdyn_kpieventdefinitions',
        filter("msdyn_name eq 'SessionStarted'"),
      );
      assert.equal(
        definition?.openua_firstparty,
        true,
        'the old organization got the first-party definitions',
      );
      assert.equal(definition?.msdyn_eventtype, 100000000, '…as System');
      const org = await call<{ unknownKpiEvents: string }>(`${server.url}/api/v1/orgs/default`, {
        token: server.masterKey,
      });
      assert.equal(org.body.unknownKpiEvents, 'refuse');
    } finally {
      await server.close();
    }
  });
});

describe("a store from before the framework's first-party names", () => {
  const dataDir = tempDir('openua-upgrade-names-');
  after(() => removeDir(dataDir));

  it("gains their definitions at start, keeps an admin's changes, and rebuilds its KPI units", async () => {
    const T = Date.now() - 3600_000;
    const acceptance = async (server: TestServer) => {
      const answer = await call<{ rows: Record<string, unknown>[] }>(`${server.url}/api/v1/query`, {
        token: server.masterKey,
        body: {
          from: new Date(T - 60_000).toISOString(),
          to: new Date(T + 60_000).toISOString(),
          measures: ['notificationAcceptanceRate'],
        },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.rows[0]?.notificationAcceptanceRate;
    };
    let server = await startServer({ dataDir });
    const conversation = await startConversation(server);
    try {
      for (const [name, offset] of [
        ['NotificationReceived', 0],
        ['NotificationAccepted', 5000],
      ] as const) {
        const logged = await call(`${server.url}/api/v1/channel/logAnalyticsEvent`, {
          token: server.masterKey,
          body: {
            data: {
              ...conversation,
              events: [{ kpiEventName: name, eventTimestamp: new Date(T + offset).toISOString() }],
            },
            eventName: name,
          },
        });
        assert.equal(logged.status, 200, JSON.stringify(logged.body));
      }
      assert.equal(await acceptance(server), 100);
    } finally {
      await server.close();
    }

    // As the store was before: no definitions for two of the names, an admin's own text on a third, and
    // unit tables of the previous shape, built when the names counted as nothing.
    const instance = await DuckDBInstance.create(path.join(dataDir, 'openua.duckdb'));
    const connection = await instance.connect();
    await connection.run(
      "DELETE FROM channel_kpi_definitions WHERE name IN ('NotificationAccepted', 'SessionFocusIn')",
    );
    await connection.run(
      "UPDATE channel_kpi_definitions SET display_name = 'Popup shown' WHERE name = 'NotificationReceived'",
    );
    await connection.run("UPDATE checkpoints SET value = '2' WHERE name = 'kpi-units'");
    await connection.run('DELETE FROM kpi_notifications');
    connection.closeSync();
    instance.closeSync();

    server = await startServer({ dataDir, masterKey: server.masterKey });
    try {
      const definitions = await odataList(
        server,
        'msdyn_kpieventdefinitions',
        filter("startswith(msdyn_name, 'Notification') or startswith(msdyn_name, 'Session')"),
      );
      const byName = new Map(definitions.map((d) => [d.msdyn_name, d]));
      assert.equal(byName.get('NotificationAccepted')?.openua_firstparty, true, 'added again at start');
      assert.equal(byName.get('SessionFocusIn')?.openua_firstparty, true);
      assert.equal(
        byName.get('NotificationReceived')?.msdyn_eventdisplayname,
        'Popup shown',
        'never overwritten',
      );
      assert.equal(await acceptance(server), 100, 'the units were rebuilt in their new meaning');
    } finally {
      await server.close();
    }
  });
});

describe('a store from before msdyn_eventtype was an option set', () => {
  const dataDir = tempDir('openua-upgrade-eventtype-');
  after(() => removeDir(dataDir));

  const SYSTEM = 100000000;
  const CUSTOM = 100000001;

  /** Runs SQL on the store while no server holds it; answers the rows of the last statement. */
  async function onStore(...sql: string[]): Promise<Record<string, unknown>[]> {
    const instance = await DuckDBInstance.create(path.join(dataDir, 'openua.duckdb'));
    const connection = await instance.connect();
    let rows: Record<string, unknown>[] = [];
    try {
      for (const statement of sql) rows = (await connection.runAndReadAll(statement)).getRowObjectsJS();
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    return rows;
  }

  /** What OData answers for the definitions, by name. */
  async function definitions(server: TestServer) {
    const all = await odataList(
      server,
      'msdyn_kpieventdefinitions',
      '?$select=msdyn_name,msdyn_eventtype,openua_firstparty,versionnumber',
    );
    return new Map(all.map((d) => [d.msdyn_name as string, d]));
  }

  /** Every first-party definition is System, every other Custom; `$filter` on the code agrees. */
  async function assertCoded(server: TestServer, custom: readonly string[]) {
    const byName = await definitions(server);
    for (const [name, d] of byName) {
      assert.equal(d.msdyn_eventtype, d.openua_firstparty ? SYSTEM : CUSTOM, name);
    }
    for (const name of custom) assert.equal(byName.get(name)?.msdyn_eventtype, CUSTOM, name);
    const system = await odataList(
      server,
      'msdyn_kpieventdefinitions',
      filter(`msdyn_eventtype eq ${SYSTEM}`),
    );
    assert.deepEqual(
      system.map((d) => d.msdyn_name).sort(),
      FIRST_PARTY_KPI_EVENTS.map((e) => e.name).sort(),
    );
    return byName;
  }

  it('gives every definition its code at start, engine-neutrally, and keeps the old text column', async () => {
    let server = await startServer({ dataDir });
    const { masterKey } = server;
    try {
      const byAdmin = await call(`${server.url}/api/v1/kpi-definitions`, {
        token: masterKey,
        body: { name: 'OrderLookup', description: 'made before the upgrade' },
      });
      assert.equal(byAdmin.status, 201, JSON.stringify(byAdmin.body));
      const byOData = await call(`${server.url}${ODATA}/msdyn_kpieventdefinitions`, {
        token: masterKey,
        body: { msdyn_name: 'RefundIssued' },
      });
      assert.equal(byOData.status, 204, JSON.stringify(byOData.body));
    } finally {
      await server.close();
    }

    // As a store was while msdyn_eventtype was free text: an event_type VARCHAR column holding the seed's
    // 'FirstParty', 'Custom' or an admin's own words, and no code column at all.
    await onStore(
      'ALTER TABLE channel_kpi_definitions DROP COLUMN event_type_code',
      'ALTER TABLE channel_kpi_definitions ADD COLUMN event_type VARCHAR',
      `UPDATE channel_kpi_definitions SET event_type = CASE WHEN first_party THEN 'FirstParty' ELSE 'Custom' END`,
      "UPDATE channel_kpi_definitions SET event_type = 'Business' WHERE name = 'RefundIssued'",
    );

    server = await startServer({ dataDir, masterKey });
    let versions: Map<string, unknown>;
    try {
      const byName = await assertCoded(server, ['OrderLookup', 'RefundIssued']);
      assert.equal(byName.get('OrderLookup')?.versionnumber, 2, 'the upgrade is written as an update is');
      versions = new Map([...byName].map(([name, d]) => [name, d.versionnumber]));
      const admin = await call<{ eventType: string; description: string }>(
        `${server.url}/api/v1/kpi-definitions/OrderLookup`,
        { token: masterKey },
      );
      assert.deepEqual([admin.body.eventType, admin.body.description], ['Custom', 'made before the upgrade']);
      const created = await call(`${server.url}${ODATA}/msdyn_kpieventdefinitions`, {
        token: masterKey,
        body: { msdyn_name: 'AfterUpgrade', msdyn_eventtype: CUSTOM },
      });
      assert.equal(created.status, 204, JSON.stringify(created.body));
      const refused = await call(`${server.url}${ODATA}/msdyn_kpieventdefinitions`, {
        token: masterKey,
        body: { msdyn_name: 'Sneaky', msdyn_eventtype: SYSTEM },
      });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
    } finally {
      await server.close();
    }

    const columns = await onStore(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'channel_kpi_definitions' AND column_name LIKE 'event_type%' ORDER BY column_name",
    );
    assert.deepEqual(
      columns.map((c) => [c.column_name, c.data_type]),
      [
        ['event_type', 'VARCHAR'],
        ['event_type_code', 'INTEGER'],
      ],
      'the old column is neither dropped nor retyped; the code has its own',
    );
    const [old] = await onStore("SELECT event_type FROM channel_kpi_definitions WHERE name = 'RefundIssued'");
    assert.equal(old?.event_type, 'Business', 'the old text is left as it was');

    // A code lost (NULL) on some rows is given back at the next start; rows that have theirs are not rewritten.
    await onStore(
      "UPDATE channel_kpi_definitions SET event_type_code = NULL WHERE name IN ('SessionStarted', 'OrderLookup')",
    );
    server = await startServer({ dataDir, masterKey });
    try {
      const byName = await assertCoded(server, ['OrderLookup', 'RefundIssued', 'AfterUpgrade']);
      assert.equal(byName.get('SessionStarted')?.msdyn_eventtype, SYSTEM);
      assert.equal(byName.get('OrderLookup')?.versionnumber, 3);
      assert.equal(byName.get('RefundIssued')?.versionnumber, versions.get('RefundIssued'), 'left as it was');
      assert.equal(byName.get('AfterUpgrade')?.versionnumber, 1);
    } finally {
      await server.close();
    }
  });
});
