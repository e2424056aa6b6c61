import { ErrorBodySchema, type ErrorCode, ErrorCodes } from '../../src/core/errors.ts';
import { RULES } from '../../src/core/rules.ts';
import { cell, table } from './markdown.ts';

/**
 * The tables of docs/api/errors.md: the error body's fields (ErrorBodySchema's), the codes with their statuses
 * (ErrorCodes'), and the rules a violation can name (RULES'). What the code does not say (when each code is
 * answered, what each field holds) is written here, and a code, a field or a rule without words throws, as do
 * words for one that is gone. Links in the words are relative to docs/api/.
 */

/** Throws unless `words` has an entry for each of `names` and for nothing else. */
function sayEach(what: string, names: readonly string[], words: Record<string, string>): void {
  const unsaid = names.filter((name) => words[name] === undefined);
  if (unsaid.length > 0) throw new Error(`the ${what} table has no words for ${unsaid.join(', ')}`);
  const gone = Object.keys(words).filter((name) => !names.includes(name));
  if (gone.length > 0) throw new Error(`the ${what} table has words for ${gone.join(', ')}, which are gone`);
}

interface ObjectSchema {
  properties: Record<string, { items?: ObjectSchema }>;
  required?: string[];
}

/** What each field of the error body holds, by its path (`violations[].rule`). */
const BODY_FIELDS: Record<string, string> = {
  statusCode: 'the HTTP status, repeated',
  code: "OpenUA's error code: one status each (see [Codes](#codes))",
  error: "the status's reason phrase (`Bad Request`)",
  type: "Coveo's error type, where Coveo's clients tell errors apart by it: `InvalidToken` alone",
  message: 'what was wrong and what to do, in one sentence',
  violations: 'every violation of the request (at most 100 from the body rules), when there are any',
  'violations[].field':
    "the offending field's path, dotted (`customData.facet_id`, `results[2].documentUri`, `events[3].outcome` in a batch); `''` is the whole body",
  'violations[].rule': 'the rule that failed (see [Rules](#rules))',
  'violations[].message': 'what the rule wants, in words',
  'violations[].received': 'the value received, long text cut to 256 characters',
  'violations[].limit':
    "the rule's bound, where it has one: a length, a range end, a pattern, the allowed values",
};

export function errorBodyTable(): string {
  const body = ErrorBodySchema as unknown as ObjectSchema;
  const rows: { path: string; required: boolean }[] = [];
  for (const [name, field] of Object.entries(body.properties)) {
    rows.push({ path: name, required: body.required?.includes(name) ?? false });
    const item = field.items;
    if (item) {
      for (const inner of Object.keys(item.properties)) {
        rows.push({ path: `${name}[].${inner}`, required: item.required?.includes(inner) ?? false });
      }
    }
  }
  sayEach(
    'error body',
    rows.map((r) => r.path),
    BODY_FIELDS,
  );
  return table(
    ['Field', 'Always there', 'Holds'],
    rows.map((r) => [`\`${r.path}\``, r.required ? 'yes' : 'no', cell(BODY_FIELDS[r.path] as string)]),
  );
}

/** When each code is answered. */
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
    'says which); `access_token` (query or form body) anywhere but the UA Write API and the batch route (send ' +
    'the Authorization header)',
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

export function errorCodesTable(): string {
  const codes = Object.keys(ErrorCodes) as ErrorCode[];
  sayEach('error codes', codes, ERROR_WHEN);
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

export function rulesTable(): string {
  return table(
    ['`rule`', 'Means'],
    Object.entries(RULES).map(([rule, meaning]) => [`\`${rule}\``, cell(meaning)]),
  );
}
