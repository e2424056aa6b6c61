/**
 * The standard set of `npm run bench:query`: what a dashboard of a search page and a contact center asks, over the
 * demo generator's month ending at QUERY_END. The bench times them on each engine; test/storage/same-answers.test.ts
 * checks that both engines answer them alike.
 */

export const QUERY_END = new Date('2026-11-25T00:00:00Z');
const DAY = 86_400_000;
const at = (daysBefore: number) => new Date(QUERY_END.getTime() - daysBefore * DAY).toISOString();
export const QUERY_ORG = 'default';

export const QUERIES: { name: string; spec: Record<string, unknown> }[] = [
  {
    name: 'events per hour by category, 7 days',
    spec: { measures: ['count'], dimensions: ['category'], granularity: 'hour', from: at(7), to: at(0) },
  },
  {
    name: 'top 20 queries, 30 days',
    spec: {
      measures: ['count', 'distinctClients'],
      dimensions: ['queryText'],
      filters: [{ field: 'category', op: 'eq', value: 'search' }],
      from: at(30),
      to: at(0),
      limit: 20,
    },
  },
  {
    name: 'searches without results per day, 30 days',
    spec: {
      measures: ['count'],
      filters: [
        { field: 'category', op: 'eq', value: 'search' },
        { field: 'numberOfResults', op: 'eq', value: 0 },
      ],
      granularity: 'day',
      timeZone: 'America/New_York',
      from: at(30),
      to: at(0),
    },
  },
  {
    name: 'click rank by source, 30 days',
    spec: {
      measures: ['count', { fn: 'avg', field: 'documentPosition' }, { fn: 'p90', field: 'documentPosition' }],
      dimensions: ['sourceName'],
      filters: [{ field: 'category', op: 'eq', value: 'click' }],
      from: at(30),
      to: at(0),
    },
  },
  {
    name: 'facets with typed customData, 7 days',
    spec: {
      measures: ['count', { fn: 'avg', field: 'customData.wait_seconds' }],
      dimensions: ['customData.facet_id'],
      filters: [{ field: 'eventType', op: 'eq', value: 'facet' }],
      from: at(7),
      to: at(0),
    },
  },
  {
    name: 'conversations per queue per day, 30 days',
    spec: {
      measures: ['distinctConversations', 'count'],
      dimensions: ['queueName'],
      filters: [{ field: 'category', op: 'eq', value: 'kpi' }],
      granularity: 'day',
      timeZone: 'Europe/Paris',
      from: at(30),
      to: at(0),
    },
  },
  {
    name: 'notification responses by action and channel, 7 days',
    spec: {
      measures: ['count'],
      dimensions: ['notificationResponseAction', 'channel'],
      filters: [{ field: 'eventType', op: 'eq', value: 'NotificationResponse' }],
      from: at(7),
      to: at(0),
    },
  },
  {
    name: 'CSAT by channel against the previous period, 14 days',
    spec: {
      measures: [{ fn: 'avg', field: 'customData.csat' }, 'count'],
      dimensions: ['channel'],
      filters: [
        { field: 'eventType', op: 'eq', value: 'ConversationEnded' },
        { field: 'customData.csat', op: 'ge', value: 1 },
      ],
      from: at(14),
      to: at(0),
      compare: 'previousPeriod',
    },
  },
  {
    name: 'visitors per day, 30 days (CSV)',
    spec: {
      measures: ['distinctClients', 'distinctVisits'],
      granularity: 'day',
      from: at(30),
      to: at(0),
      format: 'csv',
    },
  },
  {
    name: 'KPI: handle time, speed to answer and service level by queue per day, 30 days',
    spec: {
      measures: ['averageHandleTime', 'averageSpeedToAnswer', 'serviceLevel', 'conversations'],
      dimensions: ['queueName'],
      granularity: 'day',
      timeZone: 'Europe/Paris',
      from: at(30),
      to: at(0),
    },
  },
  {
    name: 'KPI: abandonment (two denominators) and transfers by channel, 7 days',
    spec: {
      measures: [
        'abandonmentRate',
        {
          kpi: 'abandonmentRate',
          denominator: 'answeredAndAbandoned',
          excludeShortAbandons: false,
          as: 'allAbandons',
        },
        'conversationTransferRate',
        'sessionTransferRate',
      ],
      dimensions: ['channel'],
      from: at(7),
      to: at(0),
    },
  },
  {
    name: 'KPI: agent scorecard (sessions, AHT, notification acceptance), 1 day',
    spec: {
      measures: [
        'sessions',
        'averageHandleTime',
        'notificationAcceptanceRate',
        'averageNotificationResponseTime',
      ],
      dimensions: ['participantId'],
      from: at(1),
      to: at(0),
    },
  },
  {
    name: 'KPI: time in presence status per agent, 7 days',
    spec: {
      measures: ['presenceTime'],
      dimensions: ['participantId', 'newPresence'],
      from: at(7),
      to: at(0),
    },
  },
];

/** The customData keys the queries read as numbers, declared before they run. */
export const QUERY_DIMENSIONS = [
  { name: 'wait_seconds', type: 'number' },
  { name: 'csat', type: 'number' },
];
