import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { FIRST_PARTY_KPI_EVENTS } from '../../src/model/first-party-kpi-events.ts';
import { filter, ODATA, odataErrorOf, odataList, startConversation, unique } from '../helpers/channel.ts';
import { violationsOf } from '../helpers/errors.ts';
import { type Answer, call, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * A KPI event definition's event type: Dataverse's option set `msdyn_eventtype` (100000000 System,
 * 100000001 Custom; reference §5). The first-party definitions are System, every other one Custom. OData
 * speaks the integers; the admin API speaks the labels as `eventType`.
 */

const SYSTEM = 100000000;
const CUSTOM = 100000001;

let server: TestServer;
serverForSuite((started) => {
  server = started;
});

const odata = (path: string) => `${server.url}${ODATA}/${path}`;
const admin = (path = '') => `${server.url}/api/v1/kpi-definitions${path}`;
const send = (url: string, body: unknown, method = 'POST') =>
  call(url, { method, token: server.masterKey, body });
const kpiName = (prefix: string) => unique(prefix).replace('-', '');

/** One definition as OData reads it, by name (its alternate key). */
async function odataDefinition(name: string): Promise<Record<string, unknown>> {
  const answer = await call(odata(`msdyn_kpieventdefinitions(msdyn_name='${name}')`), {
    token: server.masterKey,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** The one violation of a 400 OData answer, as [field, rule, received]. */
function odataViolation(answer: Answer) {
  const { violations } = odataErrorOf(answer, 400, 'INVALID_REQUEST');
  assert.equal(violations?.length, 1, JSON.stringify(violations));
  return violations?.[0] as { field: string; rule: string; received?: unknown; message?: string };
}

describe('msdyn_eventtype over OData', () => {
  it('a server-side logger creates a definition with 100000001 (Custom), and logs under it', async () => {
    const name = kpiName('OrderLookup');
    const created = await send(odata('msdyn_kpieventdefinitions'), {
      msdyn_name: name,
      msdyn_eventtype: CUSTOM,
    });
    assert.equal(created.status, 204, JSON.stringify(created.body));
    const definition = await odataDefinition(name);
    assert.equal(definition.msdyn_eventtype, CUSTOM, 'reads answer the integer');
    assert.equal(definition.openua_firstparty, false);

    const ids = await startConversation(server);
    const logged = await send(odata('msdyn_kpieventsdata'), {
      msdyn_kpieventname: name,
      msdyn_conversationid: ids.conversationId,
      msdyn_providersessionid: ids.providerSessionId,
      msdyn_participantid: ids.participantId,
    });
    assert.equal(logged.status, 204, JSON.stringify(logged.body));
  });

  it('a create without it is Custom (100000001)', async () => {
    const name = kpiName('Callback');
    const created = await call(odata('msdyn_kpieventdefinitions'), {
      token: server.masterKey,
      body: { msdyn_name: name },
      headers: { prefer: 'return=representation' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.msdyn_eventtype, CUSTOM);
    assert.equal((await odataDefinition(name)).msdyn_eventtype, CUSTOM);
  });

  it('refuses 100000000 (System) on a definition made by an admin, saying why, and stores nothing', async () => {
    const name = kpiName('Refused');
    const answer = await send(odata('msdyn_kpieventdefinitions'), {
      msdyn_name: name,
      msdyn_eventtype: SYSTEM,
    });
    const violation = odataViolation(answer);
    assert.deepEqual(
      [violation.field, violation.rule, violation.received],
      ['msdyn_eventtype', 'firstPartyOnly', SYSTEM],
    );
    assert.match(violation.message ?? '', /100000000 \(System\) is kept for the first-party definitions/);
    assert.deepEqual(
      await odataList(server, 'msdyn_kpieventdefinitions', filter(`msdyn_name eq '${name}'`)),
      [],
    );
  });

  it('refuses a value outside the option set, naming the attribute, the rule and the value', async () => {
    for (const [value, received] of [
      [7, 7],
      ['Custom', 'Custom'],
      [100000001.5, 100000001.5],
    ] as const) {
      const answer = await send(odata('msdyn_kpieventdefinitions'), {
        msdyn_name: kpiName('Seven'),
        msdyn_eventtype: value,
      });
      const violation = odataViolation(answer);
      assert.deepEqual(
        [violation.field, violation.rule, violation.received],
        ['msdyn_eventtype', 'enum', received],
      );
      assert.equal(violation.message, 'must be one of: 100000000 (System), 100000001 (Custom)');
    }
  });

  it("PATCH may repeat a definition's event type, never change or clear it", async () => {
    const name = kpiName('Patched');
    assert.equal((await send(odata('msdyn_kpieventdefinitions'), { msdyn_name: name })).status, 204);
    const address = odata(`msdyn_kpieventdefinitions(msdyn_name='${name}')`);
    const same = await send(address, { msdyn_eventtype: CUSTOM, msdyn_eventdisplayname: 'Patched' }, 'PATCH');
    assert.equal(same.status, 204, JSON.stringify(same.body));
    const toSystem = odataViolation(await send(address, { msdyn_eventtype: SYSTEM }, 'PATCH'));
    assert.deepEqual(
      [toSystem.field, toSystem.rule, toSystem.received],
      ['msdyn_eventtype', 'firstPartyOnly', SYSTEM],
    );
    const cleared = odataViolation(await send(address, { msdyn_eventtype: null }, 'PATCH'));
    assert.deepEqual([cleared.field, cleared.rule, cleared.received], ['msdyn_eventtype', 'required', null]);
    const read = await odataDefinition(name);
    assert.deepEqual([read.msdyn_eventtype, read.msdyn_eventdisplayname], [CUSTOM, 'Patched']);
  });

  it('first-party definitions are System, and their event type is read-only', async () => {
    const address = odata("msdyn_kpieventdefinitions(msdyn_name='SessionStarted')");
    const before = await odataDefinition('SessionStarted');
    assert.deepEqual([before.msdyn_eventtype, before.openua_firstparty], [SYSTEM, true]);
    const toCustom = odataViolation(await send(address, { msdyn_eventtype: CUSTOM }, 'PATCH'));
    assert.deepEqual(
      [toCustom.field, toCustom.rule, toCustom.received],
      ['msdyn_eventtype', 'readOnly', CUSTOM],
    );
    assert.match(
      toCustom.message ?? '',
      /is 100000000 \(System\) on the first-party definition "SessionStarted"/,
    );
    const same = await send(address, { msdyn_eventtype: SYSTEM }, 'PATCH');
    assert.equal(same.status, 204, 'repeating the value changes nothing');
    assert.equal((await odataDefinition('SessionStarted')).versionnumber, before.versionnumber);
  });
});

describe('filtering, selecting and ordering on msdyn_eventtype', () => {
  const custom = kpiName('Listed');
  before(async () => {
    assert.equal((await send(odata('msdyn_kpieventdefinitions'), { msdyn_name: custom })).status, 204);
  });

  it('$filter=msdyn_eventtype eq 100000000 lists exactly the first-party definitions', async () => {
    const system = await odataList(
      server,
      'msdyn_kpieventdefinitions',
      `${filter(`msdyn_eventtype eq ${SYSTEM}`)}&$select=msdyn_name,msdyn_eventtype,openua_firstparty`,
    );
    assert.deepEqual(
      system.map((d) => d.msdyn_name).sort(),
      FIRST_PARTY_KPI_EVENTS.map((e) => e.name).sort(),
    );
    assert.ok(system.every((d) => d.msdyn_eventtype === SYSTEM && d.openua_firstparty === true));
    assert.ok(!('msdyn_eventdisplayname' in (system[0] ?? {})), '$select keeps to what was asked');

    const customs = await odataList(
      server,
      'msdyn_kpieventdefinitions',
      filter(`msdyn_eventtype eq ${CUSTOM}`),
    );
    assert.ok(customs.some((d) => d.msdyn_name === custom));
    assert.ok(customs.every((d) => d.msdyn_eventtype === CUSTOM && d.openua_firstparty === false));

    const ordered = await odataList(
      server,
      'msdyn_kpieventdefinitions',
      '?$orderby=msdyn_eventtype desc,msdyn_name&$top=1&$select=msdyn_eventtype',
    );
    assert.equal(ordered[0]?.msdyn_eventtype, CUSTOM);
  });

  it('a label is not an OData literal for it', async () => {
    const answer = await call(odata(`msdyn_kpieventdefinitions${filter("msdyn_eventtype eq 'System'")}`), {
      token: server.masterKey,
    });
    assert.match(odataErrorOf(answer, 400, 'INVALID_REQUEST').message, /filter/);
  });
});

describe('eventType in the admin API', () => {
  it('takes System/Custom in any case, or the code, and answers the label', async () => {
    for (const eventType of ['custom', 'CUSTOM', CUSTOM, undefined]) {
      const name = kpiName('Admin');
      const created = await send(admin(), { name, ...(eventType === undefined ? {} : { eventType }) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.eventType, 'Custom', `for ${String(eventType)}`);
      assert.ok(!('eventTypeCode' in created.body), 'the admin API speaks the label only');
      assert.equal((await odataDefinition(name)).msdyn_eventtype, CUSTOM);
    }
    const listed = await call<{ items: { name: string; eventType: string; firstParty: boolean }[] }>(
      admin(),
      {
        token: server.masterKey,
      },
    );
    assert.ok(listed.body.items.every((d) => d.eventType === (d.firstParty ? 'System' : 'Custom')));
    assert.ok(listed.body.items.some((d) => d.eventType === 'System'));
  });

  it('refuses old free text, listing the allowed values', async () => {
    const [violation] = violationsOf(await send(admin(), { name: kpiName('Old'), eventType: 'FirstParty' }));
    assert.deepEqual(
      [violation?.field, violation?.rule, violation?.limit, violation?.received],
      ['eventType', 'enum', ['System', 'Custom'], 'FirstParty'],
    );
    assert.equal(
      violation?.message,
      'must be one of: System, Custom (in any case), or its code: 100000000 (System), 100000001 (Custom)',
    );
    const [seven] = violationsOf(await send(admin(), { name: kpiName('Old'), eventType: 7 }));
    assert.deepEqual([seven?.field, seven?.rule, seven?.received], ['eventType', 'enum', 7]);
  });

  it('refuses System for a definition made here, and a change on a first-party one', async () => {
    const [system] = violationsOf(await send(admin(), { name: kpiName('Sys'), eventType: 'system' }));
    assert.deepEqual(
      [system?.field, system?.rule, system?.limit, system?.received],
      ['eventType', 'firstPartyOnly', 'Custom', 'System'],
    );
    const [readOnly] = violationsOf(await send(admin('/SessionClosed'), { eventType: 'Custom' }, 'PATCH'));
    assert.deepEqual(
      [readOnly?.field, readOnly?.rule, readOnly?.limit, readOnly?.received],
      ['eventType', 'readOnly', 'System', 'Custom'],
    );
    const same = await send(admin('/SessionClosed'), { eventType: 'SYSTEM' }, 'PATCH');
    assert.equal(same.status, 200, JSON.stringify(same.body));
    assert.equal(same.body.eventType, 'System');
  });
});
