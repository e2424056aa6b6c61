import { type QueryFilter, type QueryRow, query } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { Empty } from '../components/Empty.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { FilterBar } from '../components/FilterBar.tsx';
import { KpiCard } from '../components/KpiCard.tsx';
import { PageHeader } from '../components/Layout.tsx';
import { Loading } from '../components/Loading.tsx';
import { TimeRange } from '../components/TimeRange.tsx';
import { EVENT_DIMENSIONS } from '../fields.ts';
import { toNumber } from '../format.ts';
import { filtersOf, granularityFor, type Params, range, setParams, useRoute } from '../url-state.ts';
import { useApi } from '../use-api.ts';

/** The UA event kinds this page reads, with the field each is first broken down by. */
const KINDS = [
  { id: 'search', label: 'Searches', by: 'queryText' },
  { id: 'click', label: 'Clicks', by: 'documentTitle' },
  { id: 'view', label: 'Views', by: 'contentIdValue' },
  { id: 'custom', label: 'Custom events', by: 'eventType' },
] as const;

type Kind = (typeof KINDS)[number]['id'];

const TOP = 20;

interface View {
  kind: Kind;
  by: string;
  from: string;
  to: string;
  filters: QueryFilter[];
}

function viewOf(params: Params): View {
  const kind = (KINDS.find((candidate) => candidate.id === params.kind)?.id ?? 'search') as Kind;
  const by = params.by || (KINDS.find((candidate) => candidate.id === kind)?.by as string);
  return { kind, by, ...range(params), filters: filtersOf(params) as QueryFilter[] };
}

const ofKind = (kind: string): QueryFilter => ({ field: 'category', op: 'eq', value: kind });

/** Everything the page shows, one query-API call each, run together. */
async function load(view: View) {
  const { from, to, filters } = view;
  const granularity = granularityFor(from, to);
  const kinds = KINDS.map((kind) => kind.id);
  const byKind: QueryFilter = { field: 'category', op: 'in', value: kinds };
  const [totals, noResults, clickRank, series, top, zero, ranks, outcomes] = await Promise.all([
    query({ measures: ['count'], dimensions: ['category'], filters: [byKind, ...filters], from, to }),
    query({
      measures: ['count'],
      filters: [ofKind('search'), { field: 'numberOfResults', op: 'eq', value: 0 }, ...filters],
      from,
      to,
    }),
    query({
      measures: [{ fn: 'avg', field: 'documentPosition', as: 'clickRank' }],
      filters: [ofKind('click'), ...filters],
      from,
      to,
    }),
    query({
      measures: ['count'],
      dimensions: ['category'],
      filters: [byKind, ...filters],
      from,
      to,
      granularity,
    }),
    query({
      measures: ['count', 'distinctVisits'],
      dimensions: [view.by],
      filters: [ofKind(view.kind), ...filters],
      from,
      to,
      orderBy: [{ field: 'count', direction: 'desc' }],
      limit: TOP,
    }),
    query({
      measures: ['count'],
      dimensions: ['queryText'],
      filters: [ofKind('search'), { field: 'numberOfResults', op: 'eq', value: 0 }, ...filters],
      from,
      to,
      orderBy: [{ field: 'count', direction: 'desc' }],
      limit: TOP,
    }),
    query({
      measures: ['count'],
      dimensions: ['documentPosition'],
      filters: [ofKind('click'), ...filters],
      from,
      to,
      orderBy: [{ field: 'documentPosition', direction: 'asc' }],
      limit: 50,
    }),
    query({
      measures: ['count'],
      dimensions: ['outcome'],
      filters: [ofKind(view.kind), ...filters],
      from,
      to,
      orderBy: [{ field: 'count', direction: 'desc' }],
      limit: 50,
    }),
  ]);
  return { granularity, totals, noResults, clickRank, series, top, zero, ranks, outcomes };
}

/** Count rows of `{time, category, count}` as one aligned series per kind. */
function seriesByKind(rows: QueryRow[]) {
  const times = [...new Set(rows.map((row) => String(row.time)))].sort();
  const x = times.map((time) => new Date(time).getTime() / 1000);
  const index = new Map(times.map((time, at) => [time, at]));
  const series = KINDS.map((kind) => {
    const values: (number | null)[] = times.map(() => 0);
    for (const row of rows) {
      if (row.category === kind.id) values[index.get(String(row.time)) as number] = toNumber(row.count);
    }
    return { label: kind.label, values, unit: 'count' };
  });
  return { x, series: series.filter((line) => line.values.some((value) => value)) };
}

/**
 * Searches, clicks, views and custom events: totals, a time series by kind, the top values of any field for one
 * kind, searches without results, where clicks land (rank) and the outcome distribution.
 */
export function Search() {
  const { params } = useRoute();
  const view = viewOf(params);
  // Keyed on the parameters, not on the instants a relative preset resolves to (which move with every render):
  // the range is resolved when the call is made.
  const { data, error, loading, reload } = useApi(() => load(viewOf(params)), JSON.stringify(params));
  const count = (kind: string) =>
    data ? (toNumber(data.totals.rows.find((row) => row.category === kind)?.count) ?? 0) : null;

  const chart = data ? seriesByKind(data.series.rows) : undefined;
  const kindLabel = KINDS.find((kind) => kind.id === view.kind)?.label as string;

  return (
    <>
      <PageHeader title="Search">
        <TimeRange params={params} />
      </PageHeader>
      <FilterBar params={params} fields={[...EVENT_DIMENSIONS]} />
      {error && <ErrorBox error={error} retry={reload} />}
      {!data && loading && <Loading what="search analytics" />}
      {data && (
        <>
          <div class="kpi-row">
            <KpiCard name="searches" label="Searches" value={count('search')} unit="count" />
            <KpiCard name="clicks" label="Clicks" value={count('click')} unit="count" />
            <KpiCard name="views" label="Views" value={count('view')} unit="count" />
            <KpiCard name="customEvents" label="Custom events" value={count('custom')} unit="count" />
            <KpiCard
              name="searchesWithoutResults"
              label="Searches without results"
              value={toNumber(data.noResults.rows[0]?.count) ?? 0}
              unit="count"
            />
            <KpiCard
              name="clickRank"
              label="Average click rank"
              value={toNumber(data.clickRank.rows[0]?.clickRank)}
              hint="Mean documentPosition of the clicks (1 is the first result)"
            />
          </div>
          {chart && chart.x.length > 0 ? (
            <Chart
              testId="search-series"
              title={`Events per ${data.granularity}`}
              x={chart.x}
              series={chart.series}
            />
          ) : (
            <Empty
              message="No searches, clicks, views or custom events in this range."
              next="Choose a longer range, remove a filter, or send events with the SDK (docs/api/sdk.md)."
            />
          )}
          <section class="panel">
            <div class="form-row">
              <label>
                Event kind
                <select
                  data-testid="search-kind"
                  value={view.kind}
                  onChange={(event) =>
                    setParams({ kind: (event.target as HTMLSelectElement).value, by: undefined })
                  }
                >
                  {KINDS.map((kind) => (
                    <option key={kind.id} value={kind.id}>
                      {kind.label}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                By
                <input
                  data-testid="search-by"
                  list="search-by-fields"
                  value={view.by}
                  onChange={(event) => setParams({ by: (event.target as HTMLInputElement).value.trim() })}
                />
              </label>
              <datalist id="search-by-fields">
                {EVENT_DIMENSIONS.map((name) => (
                  <option key={name} value={name} />
                ))}
              </datalist>
            </div>
            {data.top.rows.length > 0 ? (
              <DataTable
                testId="search-top"
                caption={`Top ${view.by} of ${kindLabel.toLowerCase()}`}
                columns={[
                  { key: view.by, label: view.by },
                  { key: 'count', label: 'Events', numeric: true, unit: 'count' },
                  { key: 'distinctVisits', label: 'Visits', numeric: true, unit: 'count' },
                ]}
                rows={data.top.rows}
              />
            ) : (
              <Empty
                message={`No ${kindLabel.toLowerCase()} in this range.`}
                next="Pick another kind or range."
              />
            )}
          </section>
          <div class="grid-2">
            <section>
              <h2>Searches without results</h2>
              {data.zero.rows.length > 0 ? (
                <DataTable
                  testId="search-no-results"
                  columns={[
                    { key: 'queryText', label: 'Query' },
                    { key: 'count', label: 'Searches', numeric: true, unit: 'count' },
                  ]}
                  rows={data.zero.rows}
                />
              ) : (
                <Empty message="Every search in this range had results." />
              )}
            </section>
            <section>
              <h2>Click rank</h2>
              {data.ranks.rows.length > 0 ? (
                <Chart
                  testId="search-click-rank"
                  title="Clicks by result position"
                  xKind="number"
                  xLabel="Position"
                  bars
                  x={data.ranks.rows.map((row) => toNumber(row.documentPosition) ?? 0)}
                  series={[
                    {
                      label: 'Clicks',
                      values: data.ranks.rows.map((row) => toNumber(row.count)),
                      unit: 'count',
                    },
                  ]}
                />
              ) : (
                <Empty message="No clicks in this range." />
              )}
            </section>
          </div>
          <section>
            <h2>Outcome of {kindLabel.toLowerCase()}</h2>
            {data.outcomes.rows.length > 0 ? (
              <DataTable
                testId="search-outcomes"
                columns={[
                  { key: 'outcome', label: 'Outcome' },
                  { key: 'count', label: 'Events', numeric: true, unit: 'count' },
                ]}
                rows={data.outcomes.rows}
              />
            ) : (
              <Empty message={`No ${kindLabel.toLowerCase()} in this range.`} />
            )}
          </section>
        </>
      )}
    </>
  );
}
