import type { QueryRow, QuerySpec } from '../../api.ts';
import { toNumber } from '../../format.ts';

/**
 * The conversations still open, as the query API sees them: the lifecycle events (queued, sessions started and
 * closed, ended) of the last LIVE_WINDOW_HOURS, one row per event, folded here into one line per conversation.
 * Shared by the Supervisor page (every open conversation) and the Agent page (the agent's own).
 */

/** How far back a conversation may have been queued and still be listed as open. */
export const LIVE_WINDOW_HOURS = 4;

/** The customData key the demo (and a desktop) logs a conversation's sentiment under, on its KPI events. */
export const SENTIMENT_FIELD = 'customData.sentiment';

const LIFECYCLE = ['ConversationQueued', 'SessionStarted', 'SessionClosed', 'ConversationEnded'];

/** Every lifecycle event of the window ending at `now`, with its agent, queue, channel and sentiment. */
export function liveSpec(now: Date): QuerySpec {
  return {
    measures: ['count'],
    dimensions: [
      'conversationId',
      'eventType',
      'derivedTime',
      'participantId',
      'queueName',
      'channel',
      SENTIMENT_FIELD,
    ],
    filters: [
      { field: 'category', op: 'eq', value: 'kpi' },
      { field: 'eventType', op: 'in', value: LIFECYCLE },
    ],
    from: new Date(now.getTime() - LIVE_WINDOW_HOURS * 3_600_000).toISOString(),
    to: now.toISOString(),
    orderBy: [{ field: 'derivedTime', direction: 'asc' }],
    limit: 100_000,
  };
}

export interface OpenConversation {
  conversationId: string;
  queuedAt: string;
  /** Seconds since it was queued, at `now`. */
  ageSeconds: number;
  queue: string | null;
  channel: string | null;
  /** The agent of its open session, or null while it waits for one. */
  agent: string | null;
  /** Waiting: queued (or transferred) with no session open. */
  waiting: boolean;
  /** The last sentiment its events carried, or null. */
  sentiment: number | null;
}

const text = (value: unknown) =>
  value === null || value === undefined || value === '' ? null : String(value);

/**
 * The conversations queued in the window and not ended, oldest first. A conversation whose ConversationQueued
 * fell before the window is not listed (its first events are not in the answer).
 */
export function openConversations(rows: readonly QueryRow[], now: Date): OpenConversation[] {
  const events = [...rows].sort((a, b) => String(a.derivedTime).localeCompare(String(b.derivedTime)));
  const byId = new Map<
    string,
    {
      queuedAt?: string;
      ended: boolean;
      open: Map<string, number>;
      last: OpenConversation['agent'];
      queue: string | null;
      channel: string | null;
      sentiment: number | null;
    }
  >();
  for (const row of events) {
    const id = text(row.conversationId);
    if (!id) continue;
    let state = byId.get(id);
    if (!state) {
      state = { ended: false, open: new Map(), last: null, queue: null, channel: null, sentiment: null };
      byId.set(id, state);
    }
    const agent = text(row.participantId);
    const times = toNumber(row.count) ?? 1;
    state.queue = text(row.queueName) ?? state.queue;
    state.channel = text(row.channel) ?? state.channel;
    state.sentiment = toNumber(row[SENTIMENT_FIELD]) ?? state.sentiment;
    switch (row.eventType) {
      case 'ConversationQueued':
        state.queuedAt ??= String(row.derivedTime);
        break;
      case 'ConversationEnded':
        state.ended = true;
        break;
      case 'SessionStarted':
        if (agent) {
          state.open.set(agent, (state.open.get(agent) ?? 0) + times);
          state.last = agent;
        }
        break;
      case 'SessionClosed':
        if (agent) state.open.set(agent, (state.open.get(agent) ?? 0) - times);
        break;
    }
  }
  const open: OpenConversation[] = [];
  for (const [conversationId, state] of byId) {
    if (state.ended || state.queuedAt === undefined) continue;
    const agents = [...state.open].filter(([, sessions]) => sessions > 0).map(([agent]) => agent);
    const agent = state.last && agents.includes(state.last) ? state.last : (agents[0] ?? null);
    open.push({
      conversationId,
      queuedAt: state.queuedAt,
      ageSeconds: Math.max(0, Math.round((now.getTime() - new Date(state.queuedAt).getTime()) / 1000)),
      queue: state.queue,
      channel: state.channel,
      agent,
      waiting: agent === null,
      sentiment: state.sentiment,
    });
  }
  return open.sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
}

/** The mean of the sentiments known, or null. */
export function meanSentiment(conversations: readonly OpenConversation[]): number | null {
  const known = conversations.flatMap((c) => (c.sentiment === null ? [] : [c.sentiment]));
  return known.length === 0 ? null : known.reduce((sum, value) => sum + value, 0) / known.length;
}
