import { UA_EVENT_KINDS } from '../../src/ua/event-kinds.ts';
import { SEARCHES_MAX_ITEMS } from '../../src/ua/schemas.ts';
import { table } from './markdown.ts';

/**
 * The routes table of docs/api/ua-write.md: the routes and their answers' keys, checked against a real server by
 * test/docs/readme-ua-routes.test.ts.
 */

export interface UaRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** After the prefix (`/rest/ua/v15/analytics/`). */
  path: string;
  body: string;
  /** The answer's keys, in the order the table names them. */
  keys: string[];
  /** A key holding a list of another route's answers, one per item of the body. */
  list?: { key: string; of: string };
  /** What the answer says beyond its keys. */
  more?: string;
}

const EVENT_KEYS = ['visitId', 'visitorId', 'clientId'];

export const UA_ROUTES: UaRoute[] = [
  { method: 'POST', path: 'custom', body: 'a custom event', keys: EVENT_KEYS },
  { method: 'POST', path: 'search', body: 'a search event', keys: ['searchEventUid', ...EVENT_KEYS] },
  {
    method: 'POST',
    path: 'searches',
    body: `a JSON array of 1–${SEARCHES_MAX_ITEMS} search events`,
    keys: ['searchEventResponses'],
    list: { key: 'searchEventResponses', of: 'search' },
    more: 'in the order of the searches',
  },
  { method: 'POST', path: 'click', body: 'a click on a result', keys: EVENT_KEYS },
  { method: 'POST', path: 'view', body: 'a page or item view', keys: EVENT_KEYS },
  { method: 'POST', path: 'collect', body: 'a measurement-protocol event', keys: EVENT_KEYS },
  {
    method: 'GET',
    path: 'visit',
    body: '– (`?clientId=`, or the cookie or `?visitor=`)',
    keys: ['id', 'visitorId', 'clientId'],
  },
  {
    method: 'DELETE',
    path: 'visit',
    body: '– (same)',
    keys: ['visitorId', 'endedVisitId'],
    more: 'and the visitor cookie cleared',
  },
];

/** Routes under the same prefixes that the text beside the table describes (Visits: "Health"). */
export const UA_ROUTES_IN_TEXT: Pick<UaRoute, 'method' | 'path'>[] = [
  { method: 'GET', path: 'monitoring/health' },
  { method: 'GET', path: 'status' },
];

const answerOf = (route: UaRoute) => {
  const keys = route.keys.map((key) =>
    key === route.list?.key ? `${key}: [${route.list.of} answer, …]` : key,
  );
  return `\`{${keys.join(', ')}}\`${route.more ? `, ${route.more}` : ''}`;
};

export function routesTable(): string {
  const posted = UA_ROUTES.filter((r) => r.method === 'POST').map((r) => r.path);
  const missing = UA_EVENT_KINDS.filter((kind) => !posted.includes(kind));
  if (missing.length > 0) throw new Error(`the routes table has no row for POST …/${missing.join(', …/')}`);
  return table(
    ['Route', 'Body', 'Answer'],
    UA_ROUTES.map((r) => [`\`${r.method} …/${r.path}\``, r.body, answerOf(r)]),
  );
}
