/**
 * Supervisor: the contact center now, refreshed every REFRESH_MS (2 s): open conversations with age, queue,
 * agent and sentiment; waiting and abandoned now; service level and speed to answer for the last 15 and 60
 * minutes; agents by presence; KPI breaches as they fire; a conversation's trace one click away (`trace=<id>`).
 *
 * For tests: `queriesFor(params, now)` (supervisor/queries.ts) gives the query specs of one refresh, keyed by
 * the name each panel carries as `data-query`; the page root carries that refresh's `now` as `data-now`, and
 * `supervisorNumbers(answers, now)` every `data-kpi` it renders. Breaches: `GET /api/v1/alerts?limit=50`.
 */
import { useCallback, useMemo, useRef } from 'preact/hooks';
import { get, type QueryAnswer, query } from '../api.ts';
import { DataTable } from '../components/DataTable.tsx';
import { KpiCard, KpiValue } from '../components/KpiCard.tsx';
import { PageHeader } from '../components/Layout.tsx';
import { formatDuration, formatTime, formatValue } from '../format.ts';
import { setParams, useRoute } from '../url-state.ts';
import { openConversations } from './supervisor/live.ts';
import {
  currentPresence,
  presenceCounts,
  REFRESH_MS,
  type SupervisorQuery,
  supervisorNumbers,
  supervisorQueries,
} from './supervisor/queries.ts';
import { Section } from './supervisor/Section.tsx';
import { TraceDrawer } from './supervisor/TraceDrawer.tsx';
import { settleAll, settledValues, usePolling } from './supervisor/use-polling.ts';

export { queriesFor } from './supervisor/queries.ts';

/** An alert of `GET /api/v1/alerts` (docs/api/alerts.md), the fields shown. */
interface Alert {
  id: string;
  ruleId: string;
  ruleName: string;
  status: 'firing' | 'resolved';
  measure: unknown;
  comparison: string;
  threshold: number | null;
  value: number | null;
  windowMinutes: number;
  firedAt: string;
  resolvedAt: string | null;
}

type Answers = Awaited<ReturnType<typeof loadAll>>;

async function loadAll(now: Date) {
  const specs = supervisorQueries(now);
  const calls = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, () => query(spec)]),
  ) as Record<SupervisorQuery, () => Promise<QueryAnswer>>;
  const [answers, alerts] = await Promise.all([
    settleAll(calls),
    settleAll({ alerts: () => get<{ count: number; alerts: Alert[] }>('/api/v1/alerts?limit=50') }),
  ]);
  return { answers, alerts: alerts.alerts };
}

const measureName = (measure: unknown) =>
  typeof measure === 'string'
    ? measure
    : measure && typeof measure === 'object'
      ? String(
          (measure as { kpi?: string; as?: string; fn?: string }).as ??
            (measure as { kpi?: string }).kpi ??
            (measure as { fn?: string }).fn,
        )
      : '';

function sentimentLabel(value: number | null) {
  if (value === null) return <span class="muted">—</span>;
  const tone = value <= -0.3 ? 'var(--bad)' : value >= 0.3 ? 'var(--good)' : 'var(--muted)';
  const word = value <= -0.3 ? 'negative' : value >= 0.3 ? 'positive' : 'neutral';
  return (
    <span style={{ color: tone }} title={`sentiment ${value}`}>
      {value.toFixed(2)} {word}
    </span>
  );
}

export function Supervisor() {
  const { params } = useRoute();
  const polled = usePolling<Answers>(loadAll, 'supervisor', REFRESH_MS);
  // Alerts that fired after the page opened are marked new.
  const openedAt = useRef(new Date().toISOString());
  const now = polled.at;
  const answers = polled.data?.answers;
  const value = (name: SupervisorQuery) => answers?.[name]?.value;
  const failure = (name: SupervisorQuery) => (value(name) ? undefined : answers?.[name]?.error);
  const waiting = !polled.data;

  const numbers = useMemo(
    () => (now && answers ? supervisorNumbers(settledValues(answers), now) : {}),
    [answers, now],
  );
  const open = useMemo(() => {
    const live = value('live');
    return live && now ? openConversations(live.rows, now) : [];
  }, [answers, now]);
  const agents = useMemo(() => {
    const presence = value('presence');
    return presence ? currentPresence(presence.rows) : [];
  }, [answers]);
  const alerts = polled.data?.alerts;
  const openTrace = useCallback((id: string) => setParams({ trace: id }), []);
  const closeTrace = useCallback(() => setParams({ trace: undefined }), []);

  const windowCards = (window: 'last15' | 'last60', label: string) => (
    <>
      <KpiCard
        name={`${window}.serviceLevel`}
        label={`Service level, ${label}`}
        value={numbers[`${window}.serviceLevel`]}
        unit="percent"
      />
      <KpiCard
        name={`${window}.averageSpeedToAnswer`}
        label={`Speed to answer, ${label}`}
        value={numbers[`${window}.averageSpeedToAnswer`]}
        unit="seconds"
      />
    </>
  );

  return (
    <div data-testid="page-supervisor" data-now={now?.toISOString()}>
      <PageHeader title="Supervisor">
        <span class="muted" aria-live="off">
          Live, every {REFRESH_MS / 1000} s{now ? ` · as of ${formatTime(now.toISOString())}` : ''}
        </span>
      </PageHeader>

      <Section
        title="Now"
        query="live last15 last60"
        loading={waiting}
        error={failure('live') ?? failure('last15') ?? failure('last60')}
      >
        <div class="kpi-row">
          <KpiCard
            name="openConversations"
            label="Open conversations"
            value={numbers.openConversations}
            unit="count"
          />
          <KpiCard
            name="waitingNow"
            label="Waiting now"
            value={numbers.waitingNow}
            unit="count"
            hint="Queued, no agent yet"
          />
          <KpiCard
            name="last15.abandonedConversations"
            label="Abandoned, last 15 min"
            value={numbers['last15.abandonedConversations']}
            unit="count"
            reference={{
              name: 'last60.abandonedConversations',
              label: 'last 60 min',
              value: numbers['last60.abandonedConversations'],
            }}
          />
          {windowCards('last15', 'last 15 min')}
          {windowCards('last60', 'last 60 min')}
        </div>
      </Section>

      <div class="grid-2">
        <Section
          title="Open conversations"
          query="live"
          loading={waiting}
          error={failure('live')}
          empty={
            open.length === 0
              ? {
                  message: 'No conversation is open right now.',
                  next: 'Conversations appear here as they are queued (ConversationQueued); load the demo with npm run openua -- demo to see some.',
                }
              : undefined
          }
        >
          <DataTable
            testId="open-conversations"
            rows={open}
            rowKey={(row) => row.conversationId}
            onOpen={(row) => openTrace(row.conversationId)}
            initialSort={{ key: 'ageSeconds', direction: 'desc' }}
            columns={[
              {
                key: 'conversationId',
                label: 'Conversation',
                render: (row) => (
                  <button
                    type="button"
                    class="link"
                    data-testid="open-trace"
                    onClick={(event) => {
                      event.stopPropagation();
                      openTrace(row.conversationId);
                    }}
                  >
                    {row.conversationId.slice(0, 8)}…
                  </button>
                ),
              },
              {
                key: 'ageSeconds',
                label: 'Age',
                numeric: true,
                render: (row) => formatDuration(row.ageSeconds),
              },
              { key: 'queue', label: 'Queue' },
              { key: 'channel', label: 'Channel' },
              { key: 'agent', label: 'Agent', render: (row) => row.agent ?? <em>waiting</em> },
              {
                key: 'sentiment',
                label: 'Sentiment',
                numeric: true,
                render: (row) => sentimentLabel(row.sentiment),
              },
            ]}
          />
        </Section>

        <Section
          title="KPI breaches"
          loading={waiting}
          error={alerts?.error}
          empty={
            alerts?.value && alerts.value.alerts.length === 0
              ? {
                  message: 'No KPI breach so far.',
                  next: 'Breaches appear here the moment an alert rule fires: an admin creates rules in Settings (or POST /api/v1/alert-rules).',
                }
              : undefined
          }
        >
          <div class="kpi-row">
            <KpiCard
              name="alerts.firing"
              label="Firing now"
              value={
                alerts?.value ? alerts.value.alerts.filter((alert) => alert.status === 'firing').length : null
              }
              unit="count"
            />
          </div>
          <DataTable
            testId="alerts"
            rows={(alerts?.value?.alerts ?? []).map((alert) => ({
              ...alert,
              measureName: measureName(alert.measure),
              isNew: alert.firedAt > openedAt.current,
            }))}
            rowKey={(alert) => alert.id}
            initialSort={{ key: 'firedAt', direction: 'desc' }}
            columns={[
              {
                key: 'status',
                label: 'Status',
                render: (alert) => (
                  <strong style={{ color: alert.status === 'firing' ? 'var(--bad)' : 'var(--good)' }}>
                    {alert.status}
                    {alert.isNew && alert.status === 'firing' ? ' · new' : ''}
                  </strong>
                ),
              },
              { key: 'ruleName', label: 'Rule' },
              { key: 'measureName', label: 'Measure' },
              {
                key: 'value',
                label: 'Value',
                numeric: true,
                render: (alert) => (
                  <>
                    <KpiValue name={`alert.${alert.id}.value`} value={alert.value} /> {alert.comparison}{' '}
                    {alert.threshold === null ? 'usual range' : formatValue(alert.threshold)}
                  </>
                ),
              },
              { key: 'windowMinutes', label: 'Window (min)', numeric: true },
              { key: 'firedAt', label: 'Fired', render: (alert) => formatTime(alert.firedAt) },
              { key: 'resolvedAt', label: 'Resolved', render: (alert) => formatTime(alert.resolvedAt) },
            ]}
          />
        </Section>
      </div>

      <Section
        title="Agents by presence"
        query="presence"
        loading={waiting}
        error={failure('presence')}
        empty={
          agents.length === 0
            ? {
                message: 'No presence change in the last day.',
                next: 'Agents appear here when their desktop logs PresenceChanged (logAnalyticsEvent).',
              }
            : undefined
        }
      >
        <div class="kpi-row">
          {Object.entries(presenceCounts(agents))
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([status, count]) => (
              <KpiCard
                key={status}
                name={`agentsByPresence.${status}`}
                label={status}
                value={count}
                unit="count"
              />
            ))}
        </div>
        <DataTable
          testId="agents-presence"
          rows={agents}
          rowKey={(row) => row.agent}
          initialSort={{ key: 'status', direction: 'asc' }}
          columns={[
            { key: 'agent', label: 'Agent' },
            { key: 'status', label: 'Status' },
            { key: 'since', label: 'Since', render: (row) => formatTime(row.since) },
          ]}
        />
      </Section>

      {params.trace && <TraceDrawer id={params.trace} onClose={closeTrace} />}
    </div>
  );
}
