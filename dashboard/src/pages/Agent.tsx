/**
 * Agent: one agent's day against the team's (URL `agent`, chosen in the picker; a supervisor opens anyone's):
 * CSAT and average handle time against the team's, the burndown of the day's work items (assigned, handled,
 * remaining), accept rate, presence time by status, and the live sentiment of the agent's open conversations.
 *
 * For tests: `queriesFor(params, now, timeZone)` (agent/queries.ts) gives the query specs the page issues, keyed
 * by the name each panel carries as `data-query`; the page root carries `data-now` and `data-time-zone`, and
 * `agentNumbers(answers, agent, now)` gives every `data-kpi` it renders.
 */
import { useEffect, useMemo } from 'preact/hooks';
import { type QueryAnswer, query } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { FilterBar } from '../components/FilterBar.tsx';
import { KpiCard, KpiValue } from '../components/KpiCard.tsx';
import { PageHeader } from '../components/Layout.tsx';
import { TimeRange } from '../components/TimeRange.tsx';
import { formatDuration, formatTime, toNumber, type ValueUnit } from '../format.ts';
import { setParams, useRoute } from '../url-state.ts';
import { useApi } from '../use-api.ts';
import {
  type AgentQuery,
  agentConversations,
  agentNumbers,
  agentQueries,
  burndown,
} from './agent/queries.ts';
import { Section } from './supervisor/Section.tsx';
import {
  type Settled,
  sectionState,
  settleAll,
  settledValues,
  usePolling,
} from './supervisor/use-polling.ts';

export { queriesFor } from './agent/queries.ts';

/** How often the open conversations' sentiment is read again. */
const LIVE_MS = 5_000;
const FILTER_FIELDS = ['channel', 'queueName', 'queueId', 'providerId'];

/** A share drawn as a bar with its percentage (the legend is the row's status). */
function ShareBar({ share }: { share: number }) {
  return (
    <span style={{ display: 'flex', alignItems: 'center', gap: '0.5rem' }}>
      <span
        aria-hidden="true"
        style={{
          display: 'inline-block',
          height: '0.8rem',
          width: `${Math.round(share * 160)}px`,
          background: 'var(--chart-1)',
          borderRadius: '2px',
        }}
      />
      {(share * 100).toFixed(1)} %
    </span>
  );
}

/** The day's work items, as cards and as the burndown's lines. */
const WORK_ITEMS = [
  { key: 'assigned', label: 'Assigned' },
  { key: 'handled', label: 'Handled' },
  { key: 'remaining', label: 'Remaining' },
] as const;

/** The agent's numbers set against the team's (`agent.<kpi>` beside `team.<kpi>`). */
const AGAINST_TEAM: { kpi: string; label: string; unit?: ValueUnit; hint?: string }[] = [
  {
    kpi: 'csat',
    label: 'CSAT (1–5)',
    hint: 'Mean CSAT of the conversations the agent answered first',
  },
  { kpi: 'averageHandleTime', label: 'Average handle time', unit: 'seconds' },
  { kpi: 'notificationAcceptanceRate', label: 'Accept rate', unit: 'percent' },
  { kpi: 'sessions', label: 'Sessions', unit: 'count' },
];

const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

type Answers = Settled<AgentQuery, QueryAnswer>;

export function Agent() {
  const { params } = useRoute();
  // One instant per view: the range's presets and the day's start are read at it (shown as data-now).
  const key = JSON.stringify(params);
  const now = useMemo(() => new Date(Math.floor(Date.now() / 1000) * 1000), [key]);
  const zone = timeZone();
  const agent = params.agent ?? '';
  const specs = useMemo(() => agentQueries(params, now, zone), [key, now, zone]);

  const agents = useApi(() => query(specs.agents), `agents ${JSON.stringify(specs.agents)}`);
  const agentList = useMemo(
    () => (agents.data?.rows ?? []).map((row) => String(row.participantId)).filter((id) => id !== 'null'),
    [agents.data],
  );
  // Without a chosen agent, the busiest one of the range (the URL then names it, so the view can be shared).
  useEffect(() => {
    if (!agent && agentList[0]) setParams({ agent: agentList[0] });
  }, [agent, agentList]);

  const loaded = useApi<Answers>(
    () =>
      settleAll({
        agent: () => query(specs.agent),
        team: () => query(specs.team),
        csat: () => query(specs.csat),
        burndown: () => query(specs.burndown),
        presence: () => query(specs.presence),
      }),
    `${agent} ${JSON.stringify(specs)}`,
  );
  const live = usePolling((at) => query(agentQueries(params, at, zone).live), 'live', LIVE_MS);

  const answers = useMemo(() => {
    const out = settledValues(loaded.data);
    if (live.data) out.live = live.data;
    return out;
  }, [loaded.data, live.data]);
  const numbers = useMemo(() => agentNumbers(answers, agent, live.at ?? now), [answers, agent, live.at, now]);

  const points = useMemo(
    () =>
      answers.burndown
        ? burndown(answers.burndown.rows, answers.burndown.meta.from, answers.burndown.meta.to)
        : [],
    [answers.burndown],
  );
  const burndownChart = useMemo(
    () => ({
      x: points.map((point) => new Date(point.time).getTime() / 1000),
      series: WORK_ITEMS.map((item) => ({
        label: item.label,
        values: points.map((point) => point[item.key]),
        unit: 'count',
      })),
    }),
    [points],
  );
  const presenceRows = useMemo(
    () =>
      (answers.presence?.rows ?? []).map((row) => ({
        status: String(row.newPresence),
        seconds: toNumber(row.presenceTime),
      })),
    [answers.presence],
  );
  const presenceTotal = presenceRows.reduce((sum, row) => sum + (row.seconds ?? 0), 0);
  const mine = useMemo(
    () => (live.data && live.at ? agentConversations(live.data, agent, live.at) : []),
    [live.data, live.at, agent],
  );

  if (!agent) {
    return (
      <div data-testid="page-agent">
        <PageHeader title="Agent">
          <TimeRange params={params} />
        </PageHeader>
        <Section
          title="Agents"
          query="agents"
          loading={agents.loading}
          error={agents.error}
          retry={agents.reload}
          empty={{
            message: 'No agent had a session in this range.',
            next: 'Widen the time range, or load the demo (npm run openua -- demo) so agents have sessions to show.',
          }}
        />
      </div>
    );
  }

  return (
    <div data-testid="page-agent" data-now={now.toISOString()} data-time-zone={zone}>
      <PageHeader title={`Agent ${agent}`}>
        <label>
          Agent{' '}
          <select
            data-testid="agent-picker"
            value={agent}
            onChange={(event) => setParams({ agent: (event.target as HTMLSelectElement).value })}
          >
            {(agentList.includes(agent) ? agentList : [agent, ...agentList]).map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <TimeRange params={params} />
      </PageHeader>
      <FilterBar params={params} fields={FILTER_FIELDS} />

      <Section
        title="Performance against the team"
        query="agent team csat"
        {...sectionState(loaded, 'agent', 'team', 'csat')}
      >
        <div class="kpi-row">
          {AGAINST_TEAM.map((entry) => (
            <KpiCard
              key={entry.kpi}
              name={`agent.${entry.kpi}`}
              label={entry.label}
              value={numbers[`agent.${entry.kpi}`]}
              unit={entry.unit}
              reference={{ name: `team.${entry.kpi}`, label: 'Team', value: numbers[`team.${entry.kpi}`] }}
              hint={entry.hint}
            />
          ))}
        </div>
      </Section>

      <div class="grid-2">
        <Section
          title="Today's work items"
          query="burndown"
          {...sectionState(loaded, 'burndown')}
          empty={
            points.length === 0
              ? {
                  message: `${agent} has no session today.`,
                  next: 'Work items appear as sessions start (SessionStarted); pick another agent, or check that the desktop logs sessions.',
                }
              : undefined
          }
        >
          <div class="kpi-row">
            {WORK_ITEMS.map((item) => (
              <KpiCard
                key={item.key}
                name={`workItems.${item.key}`}
                label={item.label}
                value={numbers[`workItems.${item.key}`]}
                unit="count"
              />
            ))}
          </div>
          <Chart testId="burndown-chart" title="Work items today, cumulative by hour" {...burndownChart} />
        </Section>

        <Section
          title="Presence time by status"
          query="presence"
          {...sectionState(loaded, 'presence')}
          empty={
            presenceRows.length === 0
              ? {
                  message: `No presence recorded for ${agent} in this range.`,
                  next: 'Presence comes from PresenceChanged events: widen the range, or check the desktop logs them.',
                }
              : undefined
          }
        >
          <DataTable
            testId="presence-table"
            rows={presenceRows}
            rowKey={(row) => row.status}
            initialSort={{ key: 'seconds', direction: 'desc' }}
            columns={[
              { key: 'status', label: 'Status' },
              {
                key: 'seconds',
                label: 'Time',
                numeric: true,
                render: (row) => (
                  <KpiValue name={`presenceTime.${row.status}`} value={row.seconds} unit="seconds" />
                ),
              },
              {
                key: 'share',
                label: 'Share of the range',
                sortValue: (row) => row.seconds,
                render: (row) => (
                  <ShareBar share={presenceTotal > 0 ? (row.seconds ?? 0) / presenceTotal : 0} />
                ),
              },
            ]}
          />
        </Section>
      </div>

      <Section
        title="Open conversations, live sentiment"
        query="live"
        loading={live.loading && !live.data}
        empty={
          live.data && mine.length === 0
            ? {
                message: `${agent} has no open conversation right now.`,
                next: `This list reads again every ${LIVE_MS / 1000} s; the Supervisor page shows every open conversation.`,
              }
            : undefined
        }
      >
        <div class="kpi-row" data-now={live.at?.toISOString()}>
          <KpiCard
            name="agent.openConversations"
            label="Open now"
            value={numbers['agent.openConversations']}
            unit="count"
          />
          <KpiCard
            name="agent.openSentiment"
            label="Mean sentiment (−1 to 1)"
            value={numbers['agent.openSentiment']}
            hint="The last sentiment score each open conversation carried"
          />
        </div>
        <DataTable
          testId="agent-open-conversations"
          rows={mine}
          rowKey={(row) => row.conversationId}
          initialSort={{ key: 'ageSeconds', direction: 'desc' }}
          columns={[
            { key: 'conversationId', label: 'Conversation' },
            { key: 'queuedAt', label: 'Queued', render: (row) => formatTime(row.queuedAt) },
            {
              key: 'ageSeconds',
              label: 'Age',
              numeric: true,
              render: (row) => formatDuration(row.ageSeconds),
            },
            { key: 'queue', label: 'Queue' },
            { key: 'channel', label: 'Channel' },
            {
              key: 'sentiment',
              label: 'Sentiment',
              numeric: true,
              render: (row) =>
                row.sentiment === null ? (
                  '—'
                ) : (
                  <span
                    style={{
                      color:
                        row.sentiment <= -0.3
                          ? 'var(--bad)'
                          : row.sentiment >= 0.3
                            ? 'var(--good)'
                            : undefined,
                    }}
                  >
                    {row.sentiment.toFixed(2)}
                  </span>
                ),
            },
          ]}
        />
      </Section>
    </div>
  );
}
