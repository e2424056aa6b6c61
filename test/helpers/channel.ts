import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { type Answer, call, type TestServer } from './server.ts';

/** A running server, in-process or spawned: where it listens and its master key. */
export type Target = Pick<TestServer, 'url' | 'masterKey'>;

/** Calls for Channel Analytics tests: the JS API over HTTP, the OData API, and the admin API. */

export const ODATA = '/api/data/v9.1';
export const INIT_PATH = '/api/v1/channel/initLogAnalytics';
export const LOG_PATH = '/api/v1/channel/logAnalyticsEvent';

export const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** A provider with analytics on (or off), made through the admin API; answers its id. */
export async function createProvider(
  server: Target,
  options: { enableAnalytics?: boolean; token?: string; org?: string } = {},
): Promise<string> {
  const answer = await call<{ id: string }>(`${server.url}/api/v1/providers${orgQuery(options.org)}`, {
    token: options.token ?? server.masterKey,
    body: { name: unique('provider'), enableAnalytics: options.enableAnalytics ?? true },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.id;
}

export const orgQuery = (org: string | undefined) => (org ? `?org=${org}` : '');

export interface ConversationIds {
  conversationId: string;
  providerSessionId: string;
  participantId: string;
}

/** An initLogAnalytics body (latest shape) with one agent. */
export function initBody(providerId: string, ids: ConversationIds, extra: Record<string, unknown> = {}) {
  return {
    data: {
      conversation: {
        conversationId: ids.conversationId,
        providerId,
        channel: 'chat',
        session: {
          providerSessionId: ids.providerSessionId,
          participants: [{ participantId: ids.participantId, name: 'Alex', type: 'Agent' }],
        },
        ...extra,
      },
    },
  };
}

/** A conversation made with initLogAnalytics, under a fresh provider with analytics on. */
export async function startConversation(
  server: Target,
  options: { token?: string; org?: string } = {},
): Promise<ConversationIds & { providerId: string; correlationId: string }> {
  const providerId = await createProvider(server, { org: options.org });
  const ids = {
    conversationId: unique('conversation'),
    providerSessionId: unique('session'),
    participantId: unique('agent'),
  };
  const answer = await call<{ correlationId: string }>(`${server.url}${INIT_PATH}${orgQuery(options.org)}`, {
    token: options.token ?? server.masterKey,
    body: initBody(providerId, ids),
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { ...ids, providerId, correlationId: answer.body.correlationId };
}

/** logAnalyticsEvent with a v2 payload for one conversation. */
export function logEvents(
  server: Target,
  ids: ConversationIds,
  events: Record<string, unknown>[],
  options: { token?: string; org?: string; eventName?: string; correlationId?: string } = {},
): Promise<Answer> {
  return call(`${server.url}${LOG_PATH}${orgQuery(options.org)}`, {
    token: options.token ?? server.masterKey,
    body: {
      data: {
        conversationId: ids.conversationId,
        providerSessionId: ids.providerSessionId,
        participantId: ids.participantId,
        events,
      },
      eventName: options.eventName ?? 'SessionStarted',
      ...(options.correlationId ? { correlationId: options.correlationId } : {}),
    },
  });
}

/** An OData collection read; answers the records. */
export async function odataList(
  server: Target,
  set: string,
  query = '',
  token = server.masterKey,
): Promise<Record<string, unknown>[]> {
  const answer = await call<{ value: Record<string, unknown>[] }>(`${server.url}${ODATA}/${set}${query}`, {
    token,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.value;
}

/** Asserts OData's error shape and status, and answers the error. */
export function odataErrorOf(answer: Answer, status: number, code: string) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const { error } = answer.body as {
    error: {
      code: string;
      message: string;
      violations?: { field: string; rule: string; received?: unknown }[];
    };
  };
  assert.equal(error.code, code);
  assert.ok(error.message.length > 0, 'every error says why');
  return error;
}

/** `$filter=…` with the expression encoded. */
export const filter = (expression: string) => `?$filter=${encodeURIComponent(expression)}`;
