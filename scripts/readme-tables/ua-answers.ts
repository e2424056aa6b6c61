import { type ErrorCode, ErrorCodes } from '../../src/core/errors.ts';
import { UA_EVENT_KINDS } from '../../src/ua/event-kinds.ts';
import { SEARCHES_MAX_ITEMS } from '../../src/ua/schemas.ts';
import { table } from './markdown.ts';

/**
 * The answers tables of docs/api/ua-write.md: its routes, and its errors. The error statuses and codes are
 * ErrorCodes'; the routes and their answers' keys are checked against a real server by
 * test/docs/readme-ua-routes.test.ts. Links in the words are relative to docs/api/.
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

/** When each code is answered. A code of ErrorCodes without words here throws. */
const ERROR_WHEN: Record<ErrorCode, string> = {
  INVALID_REQUEST:
    'a field rule, malformed JSON, a body rule (not UTF-8, nested over 64 levels, NUL or a lone surrogate in ' +
    'a string), a form body without its event',
  INVALID_TOKEN:
    "on Coveo's routes (the UA Write API, `/rest/ua/v15/analytics/…` and `/rest/v15/analytics/…`, and the " +
    'dimension API, `…/dimensions/custom…`): a search token that is ' +
    'malformed, is not signed by a known organization (a bad signature and an organization that does not ' +
    'exist get one answer), is signed with another algorithm, has no expiry or has expired',
  UNAUTHENTICATED:
    'no credential; an API key that is unknown or revoked; a credential that is none of master key, API key ' +
    'or search token; on `/api/…`, a search token the UA Write API would answer `INVALID_TOKEN` (the message ' +
    'says which); `access_token` (query or form body) anywhere but the UA Write API (send the Authorization ' +
    'header)',
  FORBIDDEN:
    'a missing privilege, a field that needs `analytics:impersonate`, another organization; creating an ' +
    'organization with other than the master key',
  ANALYTICS_DISABLED:
    'a Channel Analytics call for a provider whose analytics switch is off (or that is inactive); the message ' +
    'says how to switch it on',
  NOT_FOUND: 'no such route, organization or key',
  CONFLICT:
    'the organization (or a record with the same natural key, or a provider name) exists already; a record ' +
    'others still point to',
  BODY_TOO_LARGE: 'the body is larger than `OPENUA_BODY_LIMIT`',
  UNSUPPORTED_MEDIA_TYPE: 'a body that is not JSON, text or a form',
  RATE_LIMITED:
    "the credential is over its organization's `rateLimits` (see [Rate limits](../operations/running.md#rate-limits)); " +
    'with `Retry-After` and ' +
    '`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`',
  INTERNAL: 'an unexpected failure: it is logged, and the answer says no more',
  OVERLOADED: 'the ingest queue is full; with `Retry-After`',
  UNAVAILABLE: 'storage could not commit, or the server is shutting down; with `Retry-After`',
};

export function errorsTable(): string {
  const codes = Object.keys(ErrorCodes) as ErrorCode[];
  const unsaid = codes.filter((code) => ERROR_WHEN[code] === undefined);
  if (unsaid.length > 0) throw new Error(`the errors table has no words for ${unsaid.join(', ')}`);
  const gone = Object.keys(ERROR_WHEN).filter((code) => !codes.includes(code as ErrorCode));
  if (gone.length > 0)
    throw new Error(`the errors table has words for codes that are gone: ${gone.join(', ')}`);
  const rows = codes
    .map((code) => ({ code, spec: ErrorCodes[code] as { status: number; type?: string } }))
    .sort((a, b) => a.spec.status - b.spec.status)
    .map(({ code, spec }) => [
      String(spec.status),
      `\`${code}\`${spec.type ? ` (\`type: "${spec.type}"\`)` : ''}`,
      ERROR_WHEN[code],
    ]);
  return table(['Status', '`code`', 'When'], rows);
}
