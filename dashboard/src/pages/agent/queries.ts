import type { QueryAnswer, QueryFilter, QueryRow, QuerySpec } from '../../api.ts';
import { toNumber } from '../../format.ts';
import { filtersOf, type Params, range } from '../../url-state.ts';
import { liveSpec, meanSentiment, type OpenConversation, openConversations } from '../supervisor/live.ts';

/**
 * The Agent page's queries and the numbers it shows, as pure functions, so a test can run the same queries
 * against the API and compare. `agentQueries(params, now, timeZone)` (the page shows `now` and `timeZone` as
 * `data-now` and `data-time-zone`) answers, for the URL's range (`preset`/`from`/`to`), `filters` and `agent`:
 *
 * - `agents`: sessions by participantId, for the picker (most sessions first; the first is the default agent);
 * - `agent` and `team`: handle time, accept rate, sessions and conversations, of the agent and of everyone;
 * - `csat`: conversations by their agent (the first to accept) and CSAT score → the agent's and the team's mean;
 * - `burndown`: the agent's sessions and those still open, by hour, from the start of the day (in `timeZone`)
 *   of the range's end to its end: assigned = sessions, handled = sessions − open, remaining = open;
 * - `presence`: the agent's seconds in each status over the range;
 * - `live`: the open conversations (live.ts), kept to the agent's, with their last sentiment.
 *
 * `agentNumbers(answers, agent, now)` gives every `data-kpi` the page renders, with its raw value.
 */

export type AgentQuery = 'agents' | 'agent' | 'team' | 'csat' | 'burndown' | 'presence' | 'live';

/** The customData key of a conversation's CSAT score (1–5), on its ConversationEnded. */
export const CSAT_FIELD = 'customData.csat';

const PERFORMANCE = ['averageHandleTime', 'notificationAcceptanceRate', 'sessions', 'conversations'];

/** The instant the day holding `instant` starts in `timeZone`. */
export function startOfDay(instant: Date, timeZone: string): Date {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
      .formatToParts(instant)
      .map((part) => [part.type, Number(part.value)]),
  ) as Record<string, number>;
  const elapsed = ((parts.hour ?? 0) * 3600 + (parts.minute ?? 0) * 60 + (parts.second ?? 0)) * 1000;
  return new Date(instant.getTime() - elapsed - instant.getMilliseconds());
}

export function agentQueries(params: Params, now: Date, timeZone: string): Record<AgentQuery, QuerySpec> {
  const { from, to } = range(params, now);
  const filters: QueryFilter[] = filtersOf(params);
  const agent = params.agent ?? '';
  const mine: QueryFilter[] = [...filters, { field: 'participantId', op: 'eq', value: agent }];
  const end = new Date(to);
  return {
    agents: {
      measures: ['sessions'],
      dimensions: ['participantId'],
      filters: [...filters, { field: 'participantId', op: 'ne', value: null }],
      from,
      to,
      orderBy: [{ field: 'sessions', direction: 'desc' }],
      limit: 1000,
    },
    agent: { measures: PERFORMANCE, filters: mine, from, to },
    team: { measures: PERFORMANCE, filters, from, to },
    csat: {
      measures: ['conversations'],
      dimensions: ['participantId', CSAT_FIELD],
      filters: [...filters, { field: CSAT_FIELD, op: 'ne', value: null }],
      from,
      to,
      limit: 100_000,
    },
    burndown: {
      measures: ['sessions', 'openSessions'],
      filters: mine,
      from: startOfDay(new Date(end.getTime() - 1), timeZone).toISOString(),
      to,
      granularity: 'hour',
      timeZone,
    },
    presence: {
      measures: ['presenceTime'],
      dimensions: ['newPresence'],
      filters: [{ field: 'participantId', op: 'eq', value: agent }],
      from,
      to,
    },
    live: liveSpec(now),
  };
}

/** The page's `queriesFor`. */
export const queriesFor = agentQueries;

/** The mean CSAT of the rows (conversations by CSAT score), of one agent or (null) of all. */
export function meanCsat(rows: readonly QueryRow[], agent: string | null): number | null {
  let total = 0;
  let count = 0;
  for (const row of rows) {
    if (agent !== null && row.participantId !== agent) continue;
    const score = toNumber(row[CSAT_FIELD]);
    const conversations = toNumber(row.conversations) ?? 0;
    if (score === null) continue;
    total += score * conversations;
    count += conversations;
  }
  return count === 0 ? null : total / count;
}

export interface BurndownPoint {
  time: string;
  assigned: number;
  handled: number;
  remaining: number;
}

/**
 * The day's work items, cumulative by hour, for every hour of [from, to) (hours without a session carry the
 * totals on, so the lines run to now).
 */
export function burndown(rows: readonly QueryRow[], from: string, to: string): BurndownPoint[] {
  const byHour = new Map(rows.map((row) => [new Date(String(row.time)).getTime(), row]));
  const points: BurndownPoint[] = [];
  let assigned = 0;
  let remaining = 0;
  for (let hour = new Date(from).getTime(); hour < new Date(to).getTime(); hour += 3_600_000) {
    const row = byHour.get(hour);
    assigned += toNumber(row?.sessions) ?? 0;
    remaining += toNumber(row?.openSessions) ?? 0;
    points.push({ time: new Date(hour).toISOString(), assigned, handled: assigned - remaining, remaining });
  }
  return points;
}

export function agentConversations(answer: QueryAnswer, agent: string, now: Date): OpenConversation[] {
  return openConversations(answer.rows, now).filter((c) => c.agent === agent);
}

const first = (answer: QueryAnswer | undefined, measure: string) => toNumber(answer?.rows[0]?.[measure]);

/** Every number the page shows, by its `data-kpi` name. */
export function agentNumbers(
  answers: Partial<Record<AgentQuery, QueryAnswer>>,
  agent: string,
  now: Date,
): Record<string, number | null> {
  const numbers: Record<string, number | null> = {};
  for (const who of ['agent', 'team'] as const) {
    const answer = answers[who];
    if (answer) for (const measure of PERFORMANCE) numbers[`${who}.${measure}`] = first(answer, measure);
  }
  if (answers.csat) {
    numbers['agent.csat'] = meanCsat(answers.csat.rows, agent);
    numbers['team.csat'] = meanCsat(answers.csat.rows, null);
  }
  if (answers.burndown) {
    const { from, to } = answers.burndown.meta;
    const last = burndown(answers.burndown.rows, from, to).at(-1);
    numbers['workItems.assigned'] = last?.assigned ?? 0;
    numbers['workItems.handled'] = last?.handled ?? 0;
    numbers['workItems.remaining'] = last?.remaining ?? 0;
  }
  if (answers.presence) {
    for (const row of answers.presence.rows) {
      numbers[`presenceTime.${String(row.newPresence)}`] = toNumber(row.presenceTime);
    }
  }
  if (answers.live) {
    const mine = agentConversations(answers.live, agent, now);
    numbers['agent.openConversations'] = mine.length;
    numbers['agent.openSentiment'] = meanSentiment(mine);
  }
  return numbers;
}
