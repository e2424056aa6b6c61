/**
 * Manager: the KPIs over the URL's range against the previous period (the query API's compare:
 * previousPeriod), volumes by channel, queue and provider, the handle-time distribution, which KPIs move with
 * sentiment, and predicted volume and staffing (POST /api/v1/staffing) with editable targets and handle time.
 *
 * For tests: `queriesFor(params, now)` (manager/queries.ts) gives the query specs the page issues, keyed by the
 * name each panel carries as `data-query`; the page root carries `data-now`, and `managerNumbers(answers)` gives
 * every `data-kpi` the query panels render. The staffing body is `staffingBody(params, now, timeZone, aht)`
 * (manager/forecast.ts; `data-time-zone` on the root, aht the `averageHandleTime` of `totals`).
 */
import { useMemo, useState } from 'preact/hooks';
import { get, type QueryAnswer, type QueryRow, query } from '../api.ts';
import { Chart, type ChartSeries } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { FilterBar } from '../components/FilterBar.tsx';
import { KpiCard, KpiValue } from '../components/KpiCard.tsx';
import { PageHeader } from '../components/Layout.tsx';
import { TimeRange } from '../components/TimeRange.tsx';
import { toNumber } from '../format.ts';
import { useRoute } from '../url-state.ts';
import { useApi } from '../use-api.ts';
import {
  HANDLE_TIME_STATISTICS,
  HEADLINE,
  type ManagerQuery,
  managerNumbers,
  managerQueries,
  SENTIMENT_BAND,
  SENTIMENT_KPIS,
  sentimentBands,
  sentimentEffects,
} from './manager/queries.ts';
import { Staffing } from './manager/Staffing.tsx';
import { Section } from './supervisor/Section.tsx';
import { type Settled, sectionState, settleAll, settledValues } from './supervisor/use-polling.ts';

export { queriesFor } from './manager/queries.ts';

const FILTER_FIELDS = ['channel', 'queueName', 'queueId', 'providerId', 'participantId'];

type Answers = Settled<ManagerQuery, QueryAnswer>;

/** Provider names by record id, from the OData providers set (analytics:read), to label the provider breakdown. */
function useProviderNames() {
  const providers = useApi(
    () =>
      get<{ value: { msdyn_ciproviderid: string; msdyn_name: string }[] }>(
        '/api/data/v9.1/msdyn_ciproviders?$select=msdyn_ciproviderid,msdyn_name',
      ),
    'providers',
  );
  return useMemo(
    () =>
      new Map(
        (providers.data?.value ?? []).map((provider) => [provider.msdyn_ciproviderid, provider.msdyn_name]),
      ),
    [providers.data],
  );
}

function Volumes({
  title,
  query: name,
  answer,
  dimension,
  label,
  names,
}: {
  title: string;
  query: ManagerQuery;
  answer: QueryAnswer | undefined;
  dimension: string;
  label: string;
  names?: Map<string, string>;
}) {
  const rows = (answer?.rows ?? []).map((row) => ({
    key: String(row[dimension]),
    name: names?.get(String(row[dimension])) ?? (row[dimension] === null ? '(none)' : String(row[dimension])),
    conversations: toNumber(row.conversations),
    averageHandleTime: toNumber(row.averageHandleTime),
  }));
  return (
    <DataTable
      testId={`volumes-${dimension}`}
      caption={title}
      rows={rows}
      rowKey={(row) => row.key}
      initialSort={{ key: 'conversations', direction: 'desc' }}
      columns={[
        { key: 'name', label },
        {
          key: 'conversations',
          label: 'Conversations',
          numeric: true,
          render: (row) => (
            <KpiValue name={`${name}.${row.key}.conversations`} value={row.conversations} unit="count" />
          ),
        },
        {
          key: 'averageHandleTime',
          label: 'Handle time',
          numeric: true,
          render: (row) => (
            <KpiValue
              name={`${name}.${row.key}.averageHandleTime`}
              value={row.averageHandleTime}
              unit="seconds"
            />
          ),
        },
      ]}
    />
  );
}

/** A KPI over time, this period against the one before (dashed). */
function TrendChart({
  rows,
  kpi,
  label,
  unit,
}: {
  rows: QueryRow[];
  kpi: string;
  label: string;
  unit: string;
}) {
  const data = useMemo(() => {
    const ordered = [...rows].sort((a, b) => String(a.time).localeCompare(String(b.time)));
    const series: ChartSeries[] = [
      { label, values: ordered.map((row) => toNumber(row[kpi])), unit },
      {
        label: `${label}, previous period`,
        values: ordered.map((row) => toNumber(row[`previous.${kpi}`])),
        unit,
        dashed: true,
      },
    ];
    return { x: ordered.map((row) => new Date(String(row.time)).getTime() / 1000), series };
  }, [rows, kpi, label, unit]);
  return <Chart testId={`trend-${kpi}`} title={label} x={data.x} series={data.series} />;
}

export function Manager() {
  const { params } = useRoute();
  // The staffing targets (sl, answer, aht, …) re-run the staffing call alone.
  const key = JSON.stringify([params.preset, params.from, params.to, params.filters]);
  const now = useMemo(() => new Date(Math.floor(Date.now() / 1000) * 1000), [key]);
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const specs = useMemo(() => managerQueries(params, now), [key, now]);
  const loaded = useApi<Answers>(
    () =>
      settleAll(
        Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, () => query(spec)])) as Record<
          ManagerQuery,
          () => Promise<QueryAnswer>
        >,
      ),
    JSON.stringify(specs),
  );
  const providerNames = useProviderNames();
  const [sentimentKpi, setSentimentKpi] = useState<string>('averageHandleTime');

  const answers = useMemo(() => settledValues(loaded.data), [loaded.data]);
  const numbers = useMemo(() => managerNumbers(answers), [answers]);
  const waiting = loaded.loading && !loaded.data;
  const nothing = !waiting && answers.totals !== undefined && !numbers.conversations;
  const emptyRange = nothing
    ? {
        message: 'No conversation was queued in this range.',
        next: 'Pick a wider range (Last 30 days), remove filters, or load the demo month with npm run openua -- demo.',
      }
    : undefined;

  const effects = useMemo(() => sentimentEffects(answers.sentiment?.rows ?? []), [answers.sentiment]);
  const sentimentChart = useMemo(() => {
    const bands = sentimentBands(answers.sentiment?.rows ?? [], sentimentKpi);
    const entry = SENTIMENT_KPIS.find((candidate) => candidate.kpi === sentimentKpi);
    return {
      x: bands.map((band) => band.center),
      series: [
        { label: entry?.label ?? sentimentKpi, values: bands.map((band) => band.value), unit: entry?.unit },
      ],
    };
  }, [answers.sentiment, sentimentKpi]);
  const handleTimeChart = useMemo(
    () => ({
      x: HANDLE_TIME_STATISTICS.filter((s) => s !== 'avg').map((_, index) => index + 1),
      series: [
        {
          label: 'Handle time (min, p50, p90, p99, max)',
          values: HANDLE_TIME_STATISTICS.filter((s) => s !== 'avg').map(
            (s) => numbers[`handleTime.${s}`] ?? null,
          ),
          unit: 'seconds',
        },
      ],
    }),
    [numbers],
  );

  return (
    <div data-testid="page-manager" data-now={now.toISOString()} data-time-zone={timeZone}>
      <PageHeader title="Manager">
        <TimeRange params={params} />
      </PageHeader>
      <FilterBar params={params} fields={FILTER_FIELDS} />

      <Section
        title="KPIs against the previous period"
        query="totals"
        {...sectionState(loaded, 'totals')}
        empty={emptyRange}
      >
        <div class="kpi-row">
          {HEADLINE.map((entry) => (
            <KpiCard
              key={entry.kpi}
              name={entry.kpi}
              label={entry.label}
              value={numbers[entry.kpi]}
              previous={numbers[`previous.${entry.kpi}`]}
              unit={entry.unit}
              higherIsBetter={entry.higherIsBetter}
            />
          ))}
        </div>
      </Section>

      <Section title="Over time" query="trend" {...sectionState(loaded, 'trend')} empty={emptyRange}>
        <div class="grid-3">
          {HEADLINE.map((entry) => (
            <TrendChart
              key={entry.kpi}
              rows={answers.trend?.rows ?? []}
              kpi={entry.kpi}
              label={entry.label}
              unit={entry.unit}
            />
          ))}
        </div>
      </Section>

      <Section
        title="Volumes by channel, queue and provider"
        query="byChannel byQueue byProvider"
        {...sectionState(loaded, 'byChannel', 'byQueue', 'byProvider')}
        empty={emptyRange}
      >
        <div class="grid-3">
          <Volumes
            title="By channel"
            query="byChannel"
            answer={answers.byChannel}
            dimension="channel"
            label="Channel"
          />
          <Volumes
            title="By queue"
            query="byQueue"
            answer={answers.byQueue}
            dimension="queueName"
            label="Queue"
          />
          <Volumes
            title="By provider"
            query="byProvider"
            answer={answers.byProvider}
            dimension="providerId"
            label="Provider"
            names={providerNames}
          />
        </div>
      </Section>

      <div class="grid-2">
        <Section
          title="Handle-time distribution"
          query="handleTime"
          {...sectionState(loaded, 'handleTime')}
          empty={
            answers.handleTime && numbers['handleTime.p50'] === null
              ? {
                  message: 'No session was handled in this range.',
                  next: 'Widen the range or remove filters.',
                }
              : undefined
          }
        >
          <div class="kpi-row">
            {HANDLE_TIME_STATISTICS.map((statistic) => (
              <KpiCard
                key={statistic}
                name={`handleTime.${statistic}`}
                label={
                  statistic === 'avg'
                    ? 'Mean'
                    : statistic === 'min' || statistic === 'max'
                      ? statistic
                      : `${statistic.slice(1)}th percentile`
                }
                value={numbers[`handleTime.${statistic}`]}
                unit="seconds"
              />
            ))}
          </div>
          <Chart
            testId="handle-time-chart"
            title="Handle time at each quantile (1 min, 2 median, 3 p90, 4 p99, 5 max)"
            xKind="number"
            xLabel="Quantile"
            bars
            {...handleTimeChart}
          />
        </Section>

        <Section
          title="Which KPIs move with sentiment"
          query="sentiment"
          {...sectionState(loaded, 'sentiment')}
          empty={
            answers.sentiment && answers.sentiment.rows.length === 0
              ? {
                  message: 'No conversation in this range carries a sentiment score.',
                  next: 'Sentiment is read from customData.sentiment (−1 to 1) on KPI events: log it on SessionStarted or ConversationEnded.',
                }
              : undefined
          }
        >
          <DataTable
            testId="sentiment-effects"
            rows={effects.map((effect) => ({
              ...effect,
              label: SENTIMENT_KPIS.find((entry) => entry.kpi === effect.kpi)?.label ?? effect.kpi,
              strength: effect.correlation === null ? null : Math.abs(effect.correlation),
            }))}
            rowKey={(effect) => effect.kpi}
            initialSort={{ key: 'strength', direction: 'desc' }}
            onOpen={(effect) => setSentimentKpi(effect.kpi)}
            columns={[
              { key: 'label', label: 'KPI' },
              {
                key: 'strength',
                label: 'Correlation (r)',
                numeric: true,
                render: (effect) => (
                  <KpiValue name={`sentiment.${effect.kpi}.correlation`} value={effect.correlation} />
                ),
              },
              {
                key: 'negative',
                label: 'Negative sentiment',
                numeric: true,
                render: (effect) => (
                  <KpiValue
                    name={`sentiment.${effect.kpi}.negative`}
                    value={effect.negative}
                    unit={SENTIMENT_KPIS.find((entry) => entry.kpi === effect.kpi)?.unit}
                  />
                ),
              },
              {
                key: 'positive',
                label: 'Positive sentiment',
                numeric: true,
                render: (effect) => (
                  <KpiValue
                    name={`sentiment.${effect.kpi}.positive`}
                    value={effect.positive}
                    unit={SENTIMENT_KPIS.find((entry) => entry.kpi === effect.kpi)?.unit}
                  />
                ),
              },
            ]}
          />
          <p class="muted">
            r is weighted by conversations per score; open a row (click or Enter) to chart it. Charted:{' '}
            <select
              aria-label="KPI against sentiment"
              value={sentimentKpi}
              onChange={(event) => setSentimentKpi((event.target as HTMLSelectElement).value)}
            >
              {SENTIMENT_KPIS.map((entry) => (
                <option key={entry.kpi} value={entry.kpi}>
                  {entry.label}
                </option>
              ))}
            </select>
          </p>
          <Chart
            testId="sentiment-chart"
            title={`KPI by sentiment score, in bands of ${SENTIMENT_BAND}`}
            xKind="number"
            xLabel="Sentiment"
            {...sentimentChart}
          />
        </Section>
      </div>

      {loaded.data ? (
        <Staffing
          params={params}
          now={now}
          timeZone={timeZone}
          measuredAht={numbers.averageHandleTime ?? null}
        />
      ) : (
        <Section title="Predicted volume and staffing" query="staffing" loading />
      )}
    </div>
  );
}
