import { randomUUID } from 'node:crypto';
import { type Answer, call, readEvents, type TestServer } from './server.ts';

/** Both prefixes the official client builds (reference §5b). */
export const UA_PREFIXES = ['/rest/ua/v15/analytics', '/rest/v15/analytics'] as const;

/** A search token for the default organization, minted through the admin API. */
export async function mintToken(server: TestServer, claims: Record<string, unknown>, org = 'default') {
  const answer = await call<{ token: string }>(`${server.url}/api/v1/orgs/${org}/tokens`, {
    token: server.masterKey,
    body: claims,
  });
  if (answer.status !== 201) throw new Error(`token minting failed: ${JSON.stringify(answer.body)}`);
  return answer.body.token;
}

/** A search event that passes every rule, with a fresh searchQueryUid unless one is given. */
export const validSearchEvent = (extra: Record<string, unknown> = {}) => ({
  actionCause: 'searchboxSubmit',
  queryText: 'reset password',
  responseTime: 42,
  searchQueryUid: randomUUID(),
  language: 'en',
  ...extra,
});

export const validClickEvent = (extra: Record<string, unknown> = {}) => ({
  actionCause: 'documentOpen',
  documentPosition: 2,
  searchQueryUid: randomUUID(),
  sourceName: 'Knowledge Base',
  language: 'en',
  ...extra,
});

export const validViewEvent = (extra: Record<string, unknown> = {}) => ({
  location: 'https://support.example.com/articles/42',
  language: 'en',
  ...extra,
});

export const VALID_EVENTS = {
  search: validSearchEvent,
  click: validClickEvent,
  view: validViewEvent,
} as const;

/** `POST <prefix>/<kind>` with a JSON body. */
export function postEvent(
  server: TestServer,
  kind: string,
  body: unknown,
  token = server.masterKey,
  prefix: string = UA_PREFIXES[0],
): Promise<Answer> {
  return call(`${server.url}${prefix}/${kind}`, { token, body });
}

/** Every stored event of the default organization that matches. */
export async function storedWhere(server: TestServer, match: (event: Record<string, unknown>) => boolean) {
  return (await readEvents(server)).filter(match);
}
