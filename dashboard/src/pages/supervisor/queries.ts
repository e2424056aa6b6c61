import type { QueryAnswer, QueryRow, QuerySpec } from '../../api.ts';
import { toNumber } from '../../format.ts';
import { liveSpec, meanSentiment, openConversations } from './live.ts';

/**
 * The Supervisor page's queries and the numbers it shows, as pure functions, so a test can run the same queries
 * against the API and compare. The page refreshes every REFRESH_MS; each refresh takes one `now` (shown on the
 * page as `data-now`), and every query of that refresh is `supervisorQueries(now)`:
 *
 * - `live`: the lifecycle events of the last hours (see live.ts) → open conversations, waiting now;
 * - `last15`, `last60`: service level, speed to answer, abandons and conversations over [now − 15/60 min, now);
 * - `presence`: every PresenceChanged of the last day → each agent's current status.
 *
 * Breaches come from `GET /api/v1/alerts` (analytics:read), a trace from `GET /api/v1/correlations/{id}`.
 * `supervisorNumbers(answers, now)` gives every `data-kpi` the page renders, with its raw value.
 */

export const REFRESH_MS = 2_000;
export const PRESENCE_WINDOW_HOURS = 24;

export type SupervisorQuery = 'live' | 'last15' | 'last60' | 'presence';

const windowSpec = (now: Date, minutes: number): QuerySpec => ({
  measures: ['serviceLevel', 'averageSpeedToAnswer', 'abandonedConversations', 'conversations'],
  from: new Date(now.getTime() - minutes * 60_000).toISOString(),
  to: now.toISOString(),
});

export function supervisorQueries(now: Date): Record<SupervisorQuery, QuerySpec> {
  return {
    live: liveSpec(now),
    last15: windowSpec(now, 15),
    last60: windowSpec(now, 60),
    presence: {
      measures: ['count'],
      dimensions: ['participantId', 'newPresence', 'derivedTime'],
      filters: [{ field: 'eventType', op: 'eq', value: 'PresenceChanged' }],
      from: new Date(now.getTime() - PRESENCE_WINDOW_HOURS * 3_600_000).toISOString(),
      to: now.toISOString(),
      orderBy: [{ field: 'derivedTime', direction: 'asc' }],
      limit: 100_000,
    },
  };
}

/** The page's `queriesFor`: the Supervisor's queries take no URL parameter but the refresh's instant. */
export const queriesFor = (_params: Record<string, string>, now: Date) => supervisorQueries(now);

export interface AgentPresence {
  agent: string;
  status: string;
  since: string;
}

/** Each agent's latest status in the window (agents whose last change is older are not known). */
export function currentPresence(rows: readonly QueryRow[]): AgentPresence[] {
  const latest = new Map<string, AgentPresence>();
  for (const row of rows) {
    const agent = row.participantId;
    const status = row.newPresence;
    if (typeof agent !== 'string' || typeof status !== 'string') continue;
    const since = String(row.derivedTime);
    const known = latest.get(agent);
    if (!known || known.since <= since) latest.set(agent, { agent, status, since });
  }
  return [...latest.values()].sort((a, b) => a.agent.localeCompare(b.agent));
}

/** How many agents are in each status now. */
export function presenceCounts(agents: readonly AgentPresence[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status } of agents) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

const first = (answer: QueryAnswer | undefined, measure: string) => toNumber(answer?.rows[0]?.[measure]);

/** Every number the page shows, by its `data-kpi` name. */
export function supervisorNumbers(
  answers: Partial<Record<SupervisorQuery, QueryAnswer>>,
  now: Date,
): Record<string, number | null> {
  const numbers: Record<string, number | null> = {};
  if (answers.live) {
    const open = openConversations(answers.live.rows, now);
    numbers.openConversations = open.length;
    numbers.waitingNow = open.filter((c) => c.waiting).length;
    numbers.openSentiment = meanSentiment(open);
  }
  for (const window of ['last15', 'last60'] as const) {
    const answer = answers[window];
    if (!answer) continue;
    for (const measure of [
      'serviceLevel',
      'averageSpeedToAnswer',
      'abandonedConversations',
      'conversations',
    ]) {
      numbers[`${window}.${measure}`] = first(answer, measure);
    }
  }
  if (answers.presence) {
    const agents = currentPresence(answers.presence.rows);
    for (const [status, count] of Object.entries(presenceCounts(agents)))
      numbers[`agentsByPresence.${status}`] = count;
  }
  return numbers;
}
