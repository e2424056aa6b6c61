import { useMemo } from 'preact/hooks';
import { post } from '../../api.ts';
import { Chart } from '../../components/Chart.tsx';
import { DataTable } from '../../components/DataTable.tsx';
import { KpiCard, KpiValue } from '../../components/KpiCard.tsx';
import { formatTime } from '../../format.ts';
import { type Params, setParams } from '../../url-state.ts';
import { useApi } from '../../use-api.ts';
import { Section } from '../supervisor/Section.tsx';
import { DEFAULTS, FORECAST_DAYS, type StaffingAnswer, staffingBody, staffingNumbers } from './forecast.ts';

/** A number input that writes its URL parameter when committed (Enter or leaving the field). */
function NumberInput({
  name,
  label,
  value,
  min,
  max,
  step,
}: {
  name: string;
  label: string;
  value: number;
  min: number;
  max: number;
  step?: number;
}) {
  return (
    <label>
      {label}{' '}
      <input
        type="number"
        data-testid={`input-${name}`}
        value={value}
        min={min}
        max={max}
        step={step ?? 1}
        style={{ width: '6rem' }}
        onChange={(event) => {
          const text = (event.target as HTMLInputElement).value;
          const number = Number(text);
          if (text !== '' && Number.isFinite(number) && number >= min && number <= max) {
            setParams({ [name]: String(number) });
          }
        }}
      />
    </label>
  );
}

/**
 * Predicted volume and staffing: the coming week's arrivals per interval and the agents each needs to meet the
 * service-level target (Erlang C), from `POST /api/v1/staffing`, with the forecast's error on past weeks.
 */
export function Staffing({
  params,
  now,
  timeZone,
  measuredAht,
}: {
  params: Params;
  now: Date;
  timeZone: string;
  measuredAht: number | null;
}) {
  const body = useMemo(
    () => staffingBody(params, now, timeZone, measuredAht),
    [params, now, timeZone, measuredAht],
  );
  const key = JSON.stringify(body);
  const staffing = useApi(() => post<StaffingAnswer>('/api/v1/staffing', body), key);
  const answer = staffing.data;
  const numbers = answer ? staffingNumbers(answer) : {};
  const charts = useMemo(() => {
    const intervals = answer?.intervals ?? [];
    const x = intervals.map((interval) => new Date(interval.start).getTime() / 1000);
    return {
      x,
      arrivals: [
        {
          label: 'Forecast arrivals',
          values: intervals.map((interval) => interval.arrivals),
          unit: 'number',
        },
      ],
      agents: [
        { label: 'Agents needed', values: intervals.map((interval) => interval.agents), unit: 'count' },
      ],
    };
  }, [answer]);
  const weeks = answer?.forecast?.backtest.weeks ?? [];
  const nothing = answer?.intervals.every((interval) => interval.arrivals === 0) ?? false;

  return (
    <Section
      title="Predicted volume and staffing"
      query="staffing"
      loading={staffing.loading && !answer}
      error={staffing.error}
      retry={staffing.reload}
    >
      <form
        class="page-controls"
        data-testid="staffing-form"
        onSubmit={(event) => event.preventDefault()}
        aria-label="Staffing targets"
      >
        <NumberInput
          name="sl"
          label="Service level target (%)"
          value={body.targetServiceLevel * 100}
          min={1}
          max={99.9}
          step={0.1}
        />
        <NumberInput name="answer" label="within (s)" value={body.targetAnswerSeconds} min={0} max={86_400} />
        <NumberInput name="aht" label="Handle time (s)" value={body.ahtSeconds} min={1} max={86_400} />
        <label>
          Interval{' '}
          <select
            value={String(body.intervalMinutes)}
            onChange={(event) => setParams({ interval: (event.target as HTMLSelectElement).value })}
          >
            {[15, 30, 60].map((minutes) => (
              <option key={minutes} value={String(minutes)}>
                {minutes} min
              </option>
            ))}
          </select>
        </label>
        <NumberInput name="weeks" label="History weeks" value={body.weeks} min={1} max={26} />
        {(params.sl || params.answer || params.aht || params.interval || params.weeks) && (
          <button
            type="button"
            onClick={() =>
              setParams({
                sl: undefined,
                answer: undefined,
                aht: undefined,
                interval: undefined,
                weeks: undefined,
              })
            }
          >
            Reset to {DEFAULTS.sl} % in {DEFAULTS.answer} s, measured handle time
          </button>
        )}
      </form>
      <p class="muted">
        The next {FORECAST_DAYS} days from {formatTime(body.from)}, in {timeZone}: each interval is the mean
        of the same weekday and time over the last {body.weeks} weeks; agents by Erlang C. Conversations
        queued count as arrivals.
      </p>
      {nothing ? (
        <p class="empty">
          No arrivals in the history read ({answer?.forecast?.history.from} to {answer?.forecast?.history.to}
          ), so nothing is forecast. Load at least a week of conversations (npm run openua -- demo) or lower
          the history weeks.
        </p>
      ) : (
        <>
          <div class="kpi-row">
            <KpiCard
              name="forecast.arrivals"
              label="Forecast arrivals, next 7 days"
              value={numbers['forecast.arrivals']}
            />
            <KpiCard
              name="staffing.peakAgents"
              label="Peak agents needed"
              value={numbers['staffing.peakAgents']}
              unit="count"
            />
            <KpiCard
              name="forecast.wape"
              label="Forecast error on past weeks (WAPE)"
              value={numbers['forecast.wape']}
              unit="percent"
              hint="Σ|forecast − actual| ÷ Σ actual over the weeks held out"
            />
            <KpiCard
              name="forecast.mae"
              label="Mean absolute error per interval"
              value={numbers['forecast.mae']}
            />
          </div>
          <div class="grid-2">
            <Chart
              testId="forecast-chart"
              title="Forecast arrivals per interval"
              x={charts.x}
              series={charts.arrivals}
            />
            <Chart
              testId="staffing-chart"
              title="Agents needed per interval"
              x={charts.x}
              series={charts.agents}
            />
          </div>
        </>
      )}
      <h3>Forecast error on past weeks</h3>
      {weeks.length === 0 ? (
        <p class="muted">No week held out: raise the history so that backtest weeks fit.</p>
      ) : (
        <DataTable
          testId="forecast-error"
          rows={weeks.map((week, index) => ({ ...week, index }))}
          rowKey={(week) => week.from}
          initialSort={{ key: 'from', direction: 'desc' }}
          columns={[
            { key: 'from', label: 'Week from', render: (week) => formatTime(week.from) },
            {
              key: 'actualArrivals',
              label: 'Actual',
              numeric: true,
              render: (week) => (
                <KpiValue name={`backtest.${week.index}.actual`} value={week.actualArrivals} />
              ),
            },
            {
              key: 'forecastArrivals',
              label: 'Forecast',
              numeric: true,
              render: (week) => (
                <KpiValue name={`backtest.${week.index}.forecast`} value={week.forecastArrivals} />
              ),
            },
            {
              key: 'mae',
              label: 'MAE',
              numeric: true,
              render: (week) => <KpiValue name={`backtest.${week.index}.mae`} value={week.mae} />,
            },
            {
              key: 'wape',
              label: 'WAPE',
              numeric: true,
              render: (week) => (
                <KpiValue
                  name={`backtest.${week.index}.wape`}
                  value={week.wape === null ? null : week.wape * 100}
                  unit="percent"
                />
              ),
            },
          ]}
        />
      )}
    </Section>
  );
}
