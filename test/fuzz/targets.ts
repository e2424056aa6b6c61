import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ENTITY_SETS } from '../../src/channel/entity-sets.ts';
import { createProvider, INIT_PATH, initBody, LOG_PATH, ODATA, type Target } from '../helpers/channel.ts';
import { call, tempDir } from '../helpers/server.ts';
import { validClickEvent, validSearchEvent, validViewEvent } from '../helpers/ua.ts';
import type { Json } from './bodies.ts';

/**
 * Every route that takes a body, each with valid bodies to mutate, over fixtures made once through the admin
 * API (a write-only key, an organization to administer, a provider, a conversation, one record of each OData
 * set to PATCH, a KPI definition, an alert rule, a dimension). Built in a fixed order from the code's own lists
 * (the OData sets from ENTITY_SETS), so that a fuzz seed picks the same route in every run.
 */

export interface FuzzTarget {
  /** `METHOD path`, as the route is registered (for the report). */
  route: string;
  method: 'POST' | 'PATCH' | 'PUT';
  /** The path to send to, parameters filled in and maybe a query string. */
  path: string;
  seeds: readonly Json[];
  /** A UA Write API route: text/plain and form beacons are its own encodings. */
  beacon?: { formField: string };
  /** Extra headers a route reads (OData's Prefer, the query API's Accept). */
  headers?: Record<string, string>;
}

export interface Fixtures {
  /** Credentials by role, for requests and for hiding them in reports. */
  keys: { master: string; write: string };
  targets: FuzzTarget[];
  /** Routes the targets cover, as `METHOD /registered/path` (for the coverage check). */
  covered: Set<string>;
}

/** The organization the admin routes act on, so that no fuzzed setting changes `default`'s answers. */
export const FUZZ_ORG = 'fuzz';

async function created(
  server: Target,
  path: string,
  body: unknown,
  method = 'POST',
): Promise<Record<string, unknown>> {
  const answer = await call(`${server.url}${path}`, {
    method,
    token: server.masterKey,
    body,
    headers: { prefer: 'return=representation' },
  });
  if (answer.status >= 300)
    throw new Error(`fuzz fixture ${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export async function makeFixtures(server: Target): Promise<Fixtures> {
  const tag = randomUUID().slice(0, 8);
  const write = (
    await created(server, '/api/v1/orgs/default/keys', {
      name: 'fuzz write',
      privileges: ['analytics:write'],
    })
  ).key as string;
  await created(server, '/api/v1/orgs', { id: FUZZ_ORG, name: 'Fuzzed' });
  const providerId = await createProvider(server);
  const patchedProviderId = await createProvider(server);
  await created(server, '/api/v1/dimensions', {
    name: 'wait_seconds',
    type: 'number',
    eventKinds: ['custom'],
  });
  const ids = {
    conversationId: `fz-conversation-${tag}`,
    providerSessionId: `fz-session-${tag}`,
    participantId: `fz-agent-${tag}`,
  };
  await created(server, INIT_PATH, initBody(providerId, ids));
  const kpiDefinition = await created(server, '/api/v1/kpi-definitions', { name: `FuzzKpi${tag}` });
  const rule = await created(server, '/api/v1/alert-rules', alertRule(tag));
  await created(server, `/rest/ua/v15/dimensions/custom?name=fz_${tag}`, {
    type: 'TEXT',
    displayName: 'Fuzzed',
  });

  const kpiEvent = {
    data: { ...ids, events: [{ kpiEventName: 'TabOpened', tabId: 'tab-1', eventId: 'fz-kpi-1' }] },
    eventName: 'TabOpened',
  };
  const custom = {
    eventType: 'facet',
    eventValue: 'facetSearch',
    language: 'en',
    customData: { wait_seconds: 12, tier: 'gold' },
  };
  const targets: FuzzTarget[] = [];
  const ua = (kind: string, seeds: Json[], prefix = '/rest/ua/v15/analytics') =>
    targets.push({
      route: `POST ${prefix}/${kind}`,
      method: 'POST',
      path: `${prefix}/${kind}`,
      seeds,
      beacon: { formField: `${kind}Event` },
    });
  ua('custom', [custom, { ...custom, eventId: 'fz-custom-1', originLevel1: 'hub', userAgent: 'fuzz' }]);
  ua('custom', [custom], '/rest/v15/analytics');
  ua('search', [validSearchEvent({ customData: { tier: 'gold' } }), validSearchEvent({ results: [] })]);
  ua('click', [validClickEvent({ documentUri: 'https://example.com/a', documentTitle: 'A' })]);
  ua('view', [validViewEvent({ contentIdKey: 'permanentid', contentIdValue: 'p1' })]);
  ua('collect', [
    { t: 'pageview', dl: 'https://support.example.com/', cid: randomUUID() },
    { t: 'event', ec: 'cart', ea: 'add', ev: 3, z: 'fz-hit', custom: { a: 'b' } },
  ]);
  targets.push({
    route: 'POST /rest/ua/v15/analytics/searches',
    method: 'POST',
    path: '/rest/ua/v15/analytics/searches',
    seeds: [[validSearchEvent(), validSearchEvent({ queryText: 'two' })]],
    beacon: { formField: 'searchesEvent' },
  });

  const body = (
    route: string,
    path: string,
    seeds: Json[],
    method: FuzzTarget['method'] = 'POST',
    headers?: Record<string, string>,
  ) => targets.push({ route: `${method} ${route}`, method, path, seeds, ...(headers && { headers }) });

  body('/api/v1/events/batch', '/api/v1/events/batch', [
    {
      sentAt: new Date().toISOString(),
      events: [
        { kind: 'custom', ...custom, eventId: 'fz-batch-1' },
        { kind: 'search', ...validSearchEvent() },
        { kind: 'kpi', eventId: 'fz-batch-kpi', ...kpiEvent },
      ],
    },
  ]);
  const query: Json = {
    measures: ['count', { fn: 'sum', field: 'customData.wait_seconds', as: 'wait' }],
    dimensions: ['eventType'],
    filters: [
      { and: [{ field: 'eventType', op: 'in', value: ['facet', 'search'] }] },
      { or: [{ field: 'language', op: 'eq', value: 'en' }] },
    ],
    granularity: 'day',
    from: new Date(Date.now() - 86_400_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
    orderBy: [{ field: 'count', direction: 'desc' }],
    limit: 10,
  };
  body('/api/v1/query', '/api/v1/query', [
    query,
    { measures: [{ kpi: 'averageHandleTime' }], dimensions: ['day'] },
  ]);
  body('/api/v1/query', '/api/v1/query', [query], 'POST', { accept: 'text/csv' });
  body(INIT_PATH, INIT_PATH, [
    initBody(providerId, {
      conversationId: `fz-c-${tag}`,
      providerSessionId: `fz-s-${tag}`,
      participantId: 'fz-a',
    }),
    initBody(providerId, ids, { customData: { vip: 'yes' } }),
  ]);
  body(LOG_PATH, LOG_PATH, [
    kpiEvent,
    {
      data: {
        ...ids,
        events: [{ kpiEventName: 'HoldStarted' }, { kpiEventName: 'HoldEnded', customData: { n: '1' } }],
      },
      eventName: 'HoldEnded',
      correlationId: 'fz-correlation',
    },
  ]);

  // OData: a POST on every set, and a PATCH on one record of each.
  const odataSeeds: Record<string, Json> = {
    msdyn_ciproviders: { msdyn_name: `fz-provider-${tag}`, msdyn_enableanalytics: true, msdyn_sortorder: 2 },
    msdyn_kpieventdefinitions: {
      msdyn_name: `FuzzOdata${tag}`,
      msdyn_eventdescription: 'fuzzed',
      msdyn_eventtype: 100000001,
    },
    msdyn_conversationsdata: {
      msdyn_conversationid: `fz-oc-${tag}`,
      msdyn_providerid: providerId,
      msdyn_channel: 'chat',
      msdyn_conversationtimestamp: new Date().toISOString(),
      openua_customdata: { vip: 'yes' },
    },
    msdyn_sessionsdata: {
      msdyn_conversationid: ids.conversationId,
      msdyn_providersessionid: `fz-os-${tag}`,
      msdyn_queuename: 'q',
    },
    msdyn_sessionparticipantsdata: {
      msdyn_conversationid: ids.conversationId,
      msdyn_providersessionid: ids.providerSessionId,
      msdyn_participantid: `fz-op-${tag}`,
    },
    msdyn_kpieventsdata: {
      msdyn_kpieventname: 'HoldStarted',
      msdyn_conversationid: ids.conversationId,
      msdyn_providersessionid: ids.providerSessionId,
      msdyn_participantid: ids.participantId,
      msdyn_eventtimestamp: new Date().toISOString(),
      msdyn_customattribute1: 'x',
    },
  };
  const patchSeeds: Record<string, Json> = {
    msdyn_ciproviders: { msdyn_label: 'patched', statecode: 0 },
    msdyn_kpieventdefinitions: { msdyn_eventdescription: 'patched' },
    msdyn_conversationsdata: { msdyn_channel: 'voice', msdyn_customattribute2: 'vip' },
    msdyn_sessionsdata: { msdyn_queuename: 'Billing' },
    msdyn_sessionparticipantsdata: { msdyn_participanttype: 'Agent' },
    msdyn_kpieventsdata: { msdyn_kpieventreason: 'asked', msdyn_customattribute1: 'y' },
  };
  for (const set of ENTITY_SETS) {
    const seed = odataSeeds[set.set];
    if (seed === undefined) throw new Error(`no fuzz seed for OData set ${set.set}: add one`);
    const target = `${ODATA}/${set.set}`;
    body(`${ODATA}/:target`, target, [seed]);
    // The record to PATCH: this seed again, made distinct where the set's key would collide.
    const record = await created(server, target, uniqueRecord(set.set, seed as Record<string, Json>, tag));
    const id = record[set.primaryId];
    body(`${ODATA}/:target`, `${target}(${String(id)})`, [patchSeeds[set.set] ?? {}], 'PATCH', {
      prefer: 'return=representation',
    });
  }

  // Administration.
  body('/api/v1/orgs', '/api/v1/orgs', [{ id: `fz-${tag}`, name: 'Fuzz' }]);
  body(
    '/api/v1/orgs/:org',
    `/api/v1/orgs/${FUZZ_ORG}`,
    [
      {
        name: 'Fuzzed',
        dedupWindowDays: 2,
        maxEventAgeDays: 30,
        maxEventFutureMinutes: 60,
        unknownKpiEvents: 'reject',
      },
    ],
    'PATCH',
  );
  body('/api/v1/orgs/:org/keys', `/api/v1/orgs/${FUZZ_ORG}/keys`, [
    { name: 'k', privileges: ['analytics:read', 'admin'] },
  ]);
  body('/api/v1/orgs/:org/tokens', `/api/v1/orgs/${FUZZ_ORG}/tokens`, [
    {
      userId: 'alice@example.com',
      userDisplayName: 'Alice',
      searchHub: 'hub',
      userGroups: ['g'],
      expiresIn: 60,
    },
  ]);
  body('/api/v1/providers', '/api/v1/providers', [
    { name: `fz-p-${tag}`, enableAnalytics: true, description: 'd' },
  ]);
  body(
    '/api/v1/providers/:id',
    `/api/v1/providers/${patchedProviderId}`,
    [{ description: 'patched', enableAnalytics: true }],
    'PATCH',
  );
  body('/api/v1/kpi-definitions', '/api/v1/kpi-definitions', [
    { name: `FuzzDef${tag}`, description: 'd', eventType: 'Custom' },
  ]);
  body(
    '/api/v1/kpi-definitions/:id',
    `/api/v1/kpi-definitions/${String(kpiDefinition.id)}`,
    [{ description: 'patched' }],
    'PATCH',
  );
  body('/api/v1/dimensions', '/api/v1/dimensions', [
    { name: `fz_${tag}_n`, displayName: 'N', type: 'number', eventKinds: ['custom', 'search'] },
  ]);
  body('/api/v1/alert-rules', '/api/v1/alert-rules', [alertRule(`${tag}b`)]);
  body(
    '/api/v1/alert-rules/:id',
    `/api/v1/alert-rules/${String(rule.id)}`,
    [{ threshold: 5, rotateSecret: true, enabled: false }],
    'PATCH',
  );
  // One week of history and a day ahead: the forecast reads history through the query API, a week per query.
  const forecast = {
    from: '2026-11-02T00:00:00Z',
    to: '2026-11-03T00:00:00Z',
    timeZone: 'Europe/Paris',
    intervalMinutes: 60,
    weeks: 1,
    backtestWeeks: 0,
    measure: 'count',
    filters: [{ field: 'eventType', op: 'eq', value: 'facet' }],
  };
  body('/api/v1/forecast', '/api/v1/forecast', [
    forecast,
    { ...forecast, measure: 'conversations', trend: true },
  ]);
  body('/api/v1/staffing', '/api/v1/staffing', [
    {
      intervals: [{ start: '2026-11-02T09:00:00Z', arrivals: 100 }],
      ahtSeconds: 180,
      targetServiceLevel: 0.8,
    },
    { ...forecast, ahtSeconds: 240, targetAnswerSeconds: 30, maxOccupancy: 0.85 },
  ]);

  // Privacy, in the fuzz organization: erasure jobs and exports of people no event names.
  const privacy = `?org=${FUZZ_ORG}`;
  body('/api/v1/privacy/erasures', `/api/v1/privacy/erasures${privacy}`, [
    { visitorId: `fz-visitor-${tag}` },
    { username: `fz-user-${tag}`, mode: 'delete' },
  ]);
  body('/api/v1/privacy/exports', `/api/v1/privacy/exports${privacy}`, [
    { conversationId: `fz-conv-${tag}` },
  ]);
  // A backup writes where its body says: only ever below a directory of this run's own.
  const backups = tempDir('openua-fuzz-backups-');
  body('/api/v1/backups', '/api/v1/backups', [{ dir: path.join(backups, 'one') }]);
  body('/api/v1/backups/flush', '/api/v1/backups/flush', [{}]);

  // Coveo's dimension API (both of its body-taking methods, on the collection and on one dimension).
  const coveo = '/rest/ua/v15/dimensions/custom';
  const declaration = { type: 'TEXT', displayName: 'Fuzzed', path: [`fz_${tag}_c`] };
  body(coveo, `${coveo}?name=fz_${tag}_c&event=searches&updatePastEvents=true`, [declaration]);
  body(coveo, `${coveo}?name=fz_${tag}_c`, [declaration], 'PUT');
  body(`${coveo}/:dimension`, `${coveo}/c_fz_${tag}`, [{ type: 'TEXT', displayName: 'Renamed' }], 'PUT');

  return {
    keys: { master: server.masterKey, write },
    targets,
    covered: new Set(targets.map((t) => t.route)),
  };
}

function alertRule(tag: string) {
  return {
    name: `fuzz rule ${tag}`,
    measure: 'count',
    filters: [{ field: 'eventType', op: 'eq', value: 'checkout' }],
    comparison: 'gt',
    threshold: 10,
    windowMinutes: 5,
    webhookUrl: 'https://hooks.example.com/services/T000/B000/secret-token',
  };
}

/** The seed with its natural key made unique, so that creating the PATCH fixture never conflicts. */
function uniqueRecord(set: string, seed: Record<string, Json>, tag: string): Record<string, Json> {
  const record = { ...seed };
  if (set === 'msdyn_ciproviders' || set === 'msdyn_kpieventdefinitions')
    record.msdyn_name = `${String(seed.msdyn_name)}Patch`;
  if (set === 'msdyn_conversationsdata') record.msdyn_conversationid = `fz-pc-${tag}`;
  if (set === 'msdyn_sessionsdata') record.msdyn_providersessionid = `fz-ps-${tag}`;
  if (set === 'msdyn_sessionparticipantsdata') record.msdyn_participantid = `fz-pp-${tag}`;
  return record;
}
