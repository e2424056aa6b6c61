import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createProvider, filter, ODATA, odataErrorOf, odataList, unique } from '../helpers/channel.ts';
import { call, serverForSuite, type TestServer } from '../helpers/server.ts';

/** The OData-style entity API: create, read, query, update and delete, with Web API conventions. */

let server: TestServer;
let providerId: string;
serverForSuite(async (started) => {
  server = started;
  providerId = await createProvider(server);
});

const url = (path: string) => `${server.url}${ODATA}/${path}`;
const post = (set: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url(set), { token: server.masterKey, body, headers });

/** Creates a conversation and answers its record id, from the OData-EntityId header. */
async function createConversation(body: Record<string, unknown>): Promise<string> {
  const answer = await post('msdyn_conversationsdata', { msdyn_providerid: providerId, ...body });
  assert.equal(answer.status, 204, JSON.stringify(answer.body));
  const entityId = answer.headers.get('odata-entityid') ?? '';
  const match = /\/api\/data\/v9\.1\/msdyn_conversationsdata\(([0-9a-f-]{36})\)$/.exec(entityId);
  assert.ok(match, entityId);
  return match[1] as string;
}

describe('OData create, read, update and delete', () => {
  it('POST answers 204 with OData-EntityId, or 201 with the record when asked to', async () => {
    const conversationId = unique('c');
    const id = await createConversation({ msdyn_conversationid: conversationId, msdyn_channel: 'voice' });
    const read = await call<Record<string, unknown>>(url(`msdyn_conversationsdata(${id})`), {
      token: server.masterKey,
    });
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('odata-version'), '4.0');
    assert.equal(read.body.msdyn_conversationdataid, id);
    assert.equal(read.body.msdyn_channel, 'voice');
    assert.match(String(read.body['@odata.context']), /\$metadata#msdyn_conversationsdata\/\$entity$/);
    assert.equal(read.body.versionnumber, 1);
    assert.equal(typeof read.body.createdon, 'string');

    const represented = await post(
      'msdyn_conversationsdata',
      { msdyn_providerid: providerId, msdyn_conversationid: unique('c'), msdyn_accountid: 'acct-1' },
      { prefer: 'return=representation' },
    );
    assert.equal(represented.status, 201, JSON.stringify(represented.body));
    assert.equal(represented.headers.get('preference-applied'), 'return=representation');
    assert.equal(represented.body.msdyn_accountid, 'acct-1');
    assert.ok(
      represented.headers.get('odata-entityid')?.endsWith(`(${represented.body.msdyn_conversationdataid})`),
    );
  });

  it('PATCH changes a record and its version; DELETE removes it', async () => {
    const id = await createConversation({ msdyn_conversationid: unique('c') });
    const patched = await call(url(`msdyn_conversationsdata(${id})`), {
      method: 'PATCH',
      token: server.masterKey,
      body: { msdyn_channel: 'sms', msdyn_customattribute2: 'vip' },
    });
    assert.equal(patched.status, 204, JSON.stringify(patched.body));
    const read = await call<Record<string, unknown>>(url(`msdyn_conversationsdata(${id})`), {
      token: server.masterKey,
    });
    assert.equal(read.body.msdyn_channel, 'sms');
    assert.equal(read.body.msdyn_customattribute2, 'vip');
    assert.deepEqual(read.body.openua_customdata, { customattribute2: 'vip' });
    assert.equal(read.body.versionnumber, 2);

    const deleted = await call(url(`msdyn_conversationsdata(${id})`), {
      method: 'DELETE',
      token: server.masterKey,
    });
    assert.equal(deleted.status, 204);
    odataErrorOf(
      await call(url(`msdyn_conversationsdata(${id})`), { token: server.masterKey }),
      404,
      'NOT_FOUND',
    );
  });

  it('refuses unknown, read-only and key attributes, each by name', async () => {
    const id = await createConversation({ msdyn_conversationid: unique('c') });
    const unknown = await post('msdyn_conversationsdata', {
      msdyn_providerid: providerId,
      msdyn_conversationid: unique('c'),
      msdyn_colour: 'blue',
      createdon: '2020-01-01T00:00:00Z',
    });
    assert.deepEqual(
      odataErrorOf(unknown, 400, 'INVALID_REQUEST').violations?.map((v) => [v.field, v.rule]),
      [
        ['createdon', 'readOnly'],
        ['msdyn_colour', 'unknownField'],
      ],
    );
    const rekeyed = await call(url(`msdyn_conversationsdata(${id})`), {
      method: 'PATCH',
      token: server.masterKey,
      body: { msdyn_conversationid: 'another' },
    });
    assert.deepEqual(
      odataErrorOf(rekeyed, 400, 'INVALID_REQUEST').violations?.map((v) => [v.field, v.rule, v.received]),
      [['msdyn_conversationid', 'immutable', 'another']],
    );
  });

  it('refuses a second record with the same natural key (409), and a provider that does not exist', async () => {
    const conversationId = unique('c');
    await createConversation({ msdyn_conversationid: conversationId });
    const again = await post('msdyn_conversationsdata', {
      msdyn_providerid: providerId,
      msdyn_conversationid: conversationId,
    });
    assert.match(odataErrorOf(again, 409, 'CONFLICT').message, /exists already/);
    const noProvider = await post('msdyn_conversationsdata', {
      msdyn_providerid: 'no-such-provider',
      msdyn_conversationid: unique('c'),
    });
    assert.deepEqual(
      odataErrorOf(noProvider, 400, 'INVALID_REQUEST').violations?.map((v) => [v.field, v.rule]),
      [['msdyn_providerid', 'reference']],
    );
  });

  it('keeps a conversation that still has sessions', async () => {
    const conversationId = unique('c');
    const id = await createConversation({ msdyn_conversationid: conversationId });
    const session = await post('msdyn_sessionsdata', {
      msdyn_conversationid: conversationId,
      msdyn_providersessionid: 's1',
    });
    assert.equal(session.status, 204, JSON.stringify(session.body));
    const deleted = await call(url(`msdyn_conversationsdata(${id})`), {
      method: 'DELETE',
      token: server.masterKey,
    });
    assert.match(odataErrorOf(deleted, 409, 'CONFLICT').message, /Session Data/);
  });

  it('KPI event data can be read, patched and deleted by id', async () => {
    const conversationId = unique('c');
    await createConversation({ msdyn_conversationid: conversationId });
    await post('msdyn_sessionsdata', { msdyn_conversationid: conversationId, msdyn_providersessionid: 's' });
    await post('msdyn_sessionparticipantsdata', {
      msdyn_conversationid: conversationId,
      msdyn_providersessionid: 's',
      msdyn_participantid: 'p',
    });
    const created = await post(
      'msdyn_kpieventsdata',
      {
        msdyn_conversationid: conversationId,
        msdyn_providersessionid: 's',
        msdyn_participantid: 'p',
        msdyn_kpieventname: 'HoldStarted',
        msdyn_eventtimestamp: '2026-01-02T03:04:05.000Z',
      },
      { prefer: 'return=representation' },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.msdyn_kpieventdataid as string;
    const patched = await call(url(`msdyn_kpieventsdata(${id})`), {
      method: 'PATCH',
      token: server.masterKey,
      body: { msdyn_kpieventreason: 'Customer asked', msdyn_customattribute1: 'x' },
      headers: { prefer: 'return=representation' },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const read = await call<Record<string, unknown>>(url(`msdyn_kpieventsdata(${id})`), {
      token: server.masterKey,
    });
    assert.equal(read.body.msdyn_kpieventreason, 'Customer asked');
    assert.equal(read.body.msdyn_customattribute1, 'x');
    assert.equal(read.body.msdyn_eventtimestamp, '2026-01-02T03:04:05.000Z');
    // Clearing the last custom attribute leaves an empty list (found by the fuzzer: it was a 500).
    const cleared = await call(url(`msdyn_kpieventsdata(${id})`), {
      method: 'PATCH',
      token: server.masterKey,
      body: { msdyn_customattribute1: null },
    });
    assert.equal(cleared.status, 204, JSON.stringify(cleared.body));
    const after = await call<Record<string, unknown>>(url(`msdyn_kpieventsdata(${id})`), {
      token: server.masterKey,
    });
    assert.equal(after.body.msdyn_customattribute1 ?? null, null);
    const moved = await call(url(`msdyn_kpieventsdata(${id})`), {
      method: 'PATCH',
      token: server.masterKey,
      body: { msdyn_kpieventname: 'HoldEnded' },
    });
    assert.equal(odataErrorOf(moved, 400, 'INVALID_REQUEST').violations?.[0]?.rule, 'immutable');
    assert.equal(
      (await call(url(`msdyn_kpieventsdata(${id})`), { method: 'DELETE', token: server.masterKey })).status,
      204,
    );
    odataErrorOf(
      await call(url(`msdyn_kpieventsdata(${id})`), { token: server.masterKey }),
      404,
      'NOT_FOUND',
    );
  });

  it('answers unknown entity sets, and methods without a key, with OData errors', async () => {
    const unknown = await call(url('msdyn_nothing'), { token: server.masterKey });
    assert.match(odataErrorOf(unknown, 404, 'NOT_FOUND').message, /msdyn_conversationsdata/);
    const patch = await call(url('msdyn_conversationsdata'), {
      method: 'PATCH',
      token: server.masterKey,
      body: {},
    });
    odataErrorOf(patch, 400, 'INVALID_REQUEST');
    const noAuth = await call(url('msdyn_conversationsdata'));
    odataErrorOf(noAuth, 401, 'UNAUTHENTICATED');
    const service = await call<{ value: { name: string }[] }>(`${server.url}${ODATA}/`, {
      token: server.masterKey,
    });
    assert.equal(service.body.value.length, 6);
  });
});

describe('OData addressing and metadata', () => {
  it('addresses a record by its natural key (an alternate key), with quotes doubled', async () => {
    const conversationId = unique("o'c");
    const id = await createConversation({ msdyn_conversationid: conversationId });
    const quoted = conversationId.replaceAll("'", "''");
    const byKey = await call<Record<string, unknown>>(
      url(`msdyn_conversationsdata(msdyn_conversationid='${encodeURIComponent(quoted)}')`),
      { token: server.masterKey },
    );
    assert.equal(byKey.status, 200, JSON.stringify(byKey.body));
    assert.equal(byKey.body.msdyn_conversationdataid, id);
    await post('msdyn_sessionsdata', {
      msdyn_conversationid: conversationId,
      msdyn_providersessionid: 's-1',
    });
    const patched = await call(
      url(
        `msdyn_sessionsdata(msdyn_providersessionid='s-1',msdyn_conversationid='${encodeURIComponent(quoted)}')`,
      ),
      { method: 'PATCH', token: server.masterKey, body: { msdyn_queuename: 'Billing' } },
    );
    assert.equal(patched.status, 204, JSON.stringify(patched.body));
    const [session] = await odataList(server, 'msdyn_sessionsdata', filter("msdyn_queuename eq 'Billing'"));
    assert.equal(session?.msdyn_providersessionid, 's-1');

    const partial = await call(url("msdyn_sessionsdata(msdyn_providersessionid='s-1')"), {
      token: server.masterKey,
    });
    assert.match(
      odataErrorOf(partial, 400, 'INVALID_REQUEST').message,
      /msdyn_conversationid='…',msdyn_providersessionid='…'/,
    );
    const kpi = await call(url("msdyn_kpieventsdata(msdyn_kpieventname='x')"), { token: server.masterKey });
    assert.match(odataErrorOf(kpi, 400, 'INVALID_REQUEST').message, /msdyn_kpieventdataid only/);
  });

  it('$metadata describes every entity set, its key and its properties', async () => {
    const answer = await fetch(`${server.url}${ODATA}/$metadata`, {
      headers: { authorization: `Bearer ${server.masterKey}` },
    });
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /application\/xml/);
    const xml = await answer.text();
    for (const set of [
      'msdyn_ciproviders',
      'msdyn_kpieventdefinitions',
      'msdyn_conversationsdata',
      'msdyn_sessionsdata',
      'msdyn_sessionparticipantsdata',
      'msdyn_kpieventsdata',
    ]) {
      assert.match(xml, new RegExp(`<EntitySet Name="${set}"`));
    }
    assert.match(xml, /<Key><PropertyRef Name="msdyn_conversationdataid"\/><\/Key>/);
    assert.match(
      xml,
      /<Property Name="msdyn_conversationid" Type="Edm.String" Nullable="false" MaxLength="100"\/>/,
    );
    assert.match(xml, /<Property Name="msdyn_additionaldata" Type="Edm.String" MaxLength="2000"\/>/);
    assert.match(xml, /<Property Name="msdyn_eventtimestamp" Type="Edm.DateTimeOffset"\/>/);
    // Option sets are Edm.Int32, as in Dataverse, with their values and labels (OData's AllowedValues).
    assert.match(xml, /<edmx:Include Namespace="Org.OData.Validation.V1" Alias="Validation"\/>/);
    assert.match(
      xml,
      new RegExp(
        '<Property Name="msdyn_eventtype" Type="Edm.Int32"><Annotation Term="Validation.AllowedValues">' +
          '<Collection><Record><PropertyValue Property="Value" Int="100000000"/>' +
          '<Annotation Term="Core.SymbolicName" String="System"/></Record>' +
          '<Record><PropertyValue Property="Value" Int="100000001"/>' +
          '<Annotation Term="Core.SymbolicName" String="Custom"/></Record></Collection></Annotation></Property>',
      ),
    );
    assert.match(
      xml,
      /<Property Name="statecode" Type="Edm.Int32"><Annotation Term="Validation.AllowedValues"><Collection><Record><PropertyValue Property="Value" Int="0"\/><Annotation Term="Core.SymbolicName" String="Active"\/>/,
    );
    const anonymous = await fetch(`${server.url}${ODATA}/$metadata`);
    assert.equal(anonymous.status, 401);
  });
});

describe('OData query options', () => {
  const channel = unique('query');
  const names = ['alpha', 'beta', "o'brien", 'gamma', 'delta'];
  const times = names.map((_, i) => `2026-03-0${i + 1}T10:00:00.000Z`);
  const ids: string[] = [];

  before(async () => {
    for (const [i, name] of names.entries()) {
      ids.push(
        await createConversation({
          msdyn_conversationid: `${channel}-${i}`,
          msdyn_name: name,
          msdyn_channel: channel,
          msdyn_conversationtimestamp: times[i],
          msdyn_accountid: i % 2 === 0 ? 'even' : null,
        }),
      );
    }
  });

  const namesFor = async (expression: string, extra = '') =>
    (
      await odataList(
        server,
        'msdyn_conversationsdata',
        `${filter(`msdyn_channel eq '${channel}' and (${expression})`)}&$orderby=msdyn_name${extra}`,
      )
    ).map((r) => r.msdyn_name);

  it('$filter: every comparison, and, or, not, parentheses', async () => {
    assert.deepEqual(await namesFor("msdyn_name eq 'beta'"), ['beta']);
    assert.deepEqual(await namesFor("msdyn_name ne 'beta'"), ['alpha', 'delta', 'gamma', "o'brien"]);
    assert.deepEqual(await namesFor("msdyn_name gt 'delta'"), ['gamma', "o'brien"]);
    assert.deepEqual(await namesFor("msdyn_name ge 'delta'"), ['delta', 'gamma', "o'brien"]);
    assert.deepEqual(await namesFor("msdyn_name lt 'beta'"), ['alpha']);
    assert.deepEqual(await namesFor("msdyn_name le 'beta'"), ['alpha', 'beta']);
    assert.deepEqual(await namesFor("'beta' ge msdyn_name"), ['alpha', 'beta'], 'a literal first flips');
    assert.deepEqual(
      await namesFor("(msdyn_name eq 'alpha' or msdyn_name eq 'gamma') and not (msdyn_name eq 'gamma')"),
      ['alpha'],
    );
    assert.deepEqual(await namesFor("msdyn_name eq 'o''brien'"), ["o'brien"], 'quotes are doubled');
  });

  it('$filter: null, contains, startswith, endswith, dates and GUIDs', async () => {
    assert.deepEqual(await namesFor('msdyn_accountid eq null'), ['beta', 'gamma']);
    assert.deepEqual(await namesFor('msdyn_accountid ne null'), ['alpha', 'delta', "o'brien"]);
    assert.deepEqual(await namesFor("not (msdyn_accountid eq 'even')"), ['beta', 'gamma'], 'not keeps nulls');
    assert.deepEqual(await namesFor("msdyn_accountid ne 'even'"), ['beta', 'gamma'], 'ne keeps nulls');
    assert.deepEqual(await namesFor("contains(msdyn_name,'mm')"), ['gamma']);
    assert.deepEqual(await namesFor("startswith(msdyn_name,'al')"), ['alpha']);
    assert.deepEqual(await namesFor("endswith(msdyn_name,'ta')"), ['beta', 'delta']);
    assert.deepEqual(await namesFor("contains(msdyn_name,'%')"), [], 'no wildcards');
    assert.deepEqual(await namesFor('msdyn_conversationtimestamp ge 2026-03-04T00:00:00Z'), [
      'delta',
      'gamma',
    ]);
    assert.deepEqual(await namesFor('msdyn_conversationtimestamp lt 2026-03-02T10:00:00.000Z'), ['alpha']);
    assert.deepEqual(await namesFor(`msdyn_conversationdataid eq ${ids[1]}`), ['beta']);
    assert.deepEqual(await namesFor(`msdyn_conversationdataid eq ${ids[1]?.toUpperCase()}`), ['beta']);
  });

  it('$select, $orderby, $top, $skip and $count', async () => {
    const answer = await call<{
      value: Record<string, unknown>[];
      '@odata.count': number;
      '@odata.context': string;
    }>(
      url(
        `msdyn_conversationsdata${filter(`msdyn_channel eq '${channel}'`)}&$select=msdyn_name,msdyn_conversationtimestamp&$orderby=msdyn_conversationtimestamp desc&$top=2&$skip=1&$count=true`,
      ),
      { token: server.masterKey },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body['@odata.count'], 5, 'the count ignores $top and $skip');
    assert.match(
      answer.body['@odata.context'],
      /msdyn_conversationsdata\(msdyn_name,msdyn_conversationtimestamp\)$/,
    );
    assert.deepEqual(answer.body.value, [
      { msdyn_conversationdataid: ids[3], msdyn_name: 'gamma', msdyn_conversationtimestamp: times[3] },
      { msdyn_conversationdataid: ids[2], msdyn_name: "o'brien", msdyn_conversationtimestamp: times[2] },
    ]);
  });

  it('one record: $select picks its attributes; a collection option or $expand is refused by name', async () => {
    const one = await call<Record<string, unknown>>(
      url(`msdyn_conversationsdata(${ids[1]})?$select=msdyn_name,msdyn_conversationtimestamp`),
      { token: server.masterKey },
    );
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.match(
      String(one.body['@odata.context']),
      /msdyn_conversationsdata\(msdyn_name,msdyn_conversationtimestamp\)\/\$entity$/,
    );
    const { '@odata.context': _, ...record } = one.body;
    assert.deepEqual(record, {
      msdyn_conversationdataid: ids[1],
      msdyn_name: 'beta',
      msdyn_conversationtimestamp: times[1],
    });
    const refused = await call(
      url(`msdyn_conversationsdata(${ids[1]})?$expand=msdyn_sessions&$top=1&$select=msdyn_nope`),
      { token: server.masterKey },
    );
    const error = odataErrorOf(refused, 400, 'INVALID_REQUEST');
    assert.deepEqual(error.violations?.map((v) => [v.field, v.rule, v.received]).sort(), [
      ['$expand', 'supported', 'msdyn_sessions'],
      ['$select', 'attribute', 'msdyn_nope'],
      ['$top', 'supported', '1'],
    ]);
  });

  it('refuses unknown attributes and options, and bad numbers, listing every one', async () => {
    const answer = await call(
      url(
        'msdyn_conversationsdata?$select=msdyn_nope&$orderby=msdyn_name sideways&$top=-1&$expand=x&$count=maybe',
      ),
      { token: server.masterKey },
    );
    const error = odataErrorOf(answer, 400, 'INVALID_REQUEST');
    assert.deepEqual(error.violations?.map((v) => [v.field, v.rule]).sort(), [
      ['$count', 'enum'],
      ['$expand', 'supported'],
      ['$orderby', 'syntax'],
      ['$select', 'attribute'],
      ['$top', 'range'],
    ]);
  });
});
