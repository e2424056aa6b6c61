import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ArrivalCount,
  type ForecastOptions,
  forecastArrivals,
  localGrid,
  WEEK_MS,
} from '../../src/forecast/seasonal.ts';

/** Hand-built histories whose forecast and backtest error can be worked out on paper. */

const HOUR = 3_600_000;
// A Monday, 00:00 UTC: history ends here, the forecast week starts here.
const END = Date.parse('2026-11-02T00:00:00Z');
const weekStart = (weeksBack: number) => END - weeksBack * WEEK_MS;
const count = (at: number, arrivals: number): ArrivalCount => ({ start: new Date(at), arrivals });

const options = (extra: Partial<ForecastOptions> = {}): ForecastOptions => ({
  timeZone: 'UTC',
  intervalMinutes: 60,
  historyEnd: new Date(END),
  weeks: 3,
  backtestWeeks: 1,
  trend: false,
  from: new Date(END),
  to: new Date(END + WEEK_MS),
  ...extra,
});

const close = (actual: number | null, expected: number) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${actual} ≠ ${expected}`);

describe('forecastArrivals', () => {
  it('repeats a constant weekly pattern exactly, with no backtest error', () => {
    // Every hour of the week h (0–167) gets h % 7 arrivals, the same in each of the 4 weeks read.
    const pattern = (hourOfWeek: number) => hourOfWeek % 7;
    const history = [1, 2, 3, 4].flatMap((w) =>
      Array.from({ length: 168 }, (_, h) => count(weekStart(w) + h * HOUR, pattern(h))),
    );
    const { intervals, backtest } = forecastArrivals(history, options());
    assert.equal(intervals.length, 168);
    intervals.forEach((interval, h) => {
      assert.equal(interval.start.getTime(), END + h * HOUR);
      assert.equal(interval.end.getTime(), END + (h + 1) * HOUR);
      assert.equal(interval.arrivals, pattern(h));
    });
    assert.equal(backtest.weeks.length, 1);
    const [week] = backtest.weeks;
    assert.equal(week?.from.getTime(), weekStart(1));
    assert.equal(week?.to.getTime(), END);
    assert.equal(week?.mae, 0);
    assert.equal(week?.wape, 0);
    assert.equal(week?.mape, 0);
    assert.equal(week?.intervals, 168);
    // One held-out week: the overall error is that week's.
    const { from: _from, to: _to, ...error } = week ?? { from: 0, to: 0 };
    assert.deepEqual(backtest.overall, error);
  });

  it('averages the same weekday and hour, and measures a noisy week by hand', () => {
    // Two slots, over three weeks (oldest first): Monday 09:00 gets 10, 14, 11; Tuesday 14:00 gets 4, 6, 8.
    const monday9 = 9 * HOUR;
    const tuesday14 = (24 + 14) * HOUR;
    const history = [
      ...[10, 14, 11].map((n, i) => count(weekStart(3 - i) + monday9, n)),
      ...[4, 6, 8].map((n, i) => count(weekStart(3 - i) + tuesday14, n)),
    ];
    const { intervals, backtest } = forecastArrivals(history, options({ weeks: 2, backtestWeeks: 1 }));
    // The future: the mean of the last two weeks.
    const at = (offset: number) => intervals.find((i) => i.start.getTime() === END + offset)?.arrivals;
    assert.equal(at(monday9), (14 + 11) / 2);
    assert.equal(at(tuesday14), (6 + 8) / 2);
    assert.equal(at(monday9 + HOUR), 0);
    // The held-out last week, forecast from the two before it: Monday 12 (actual 11), Tuesday 5 (actual 8).
    // Absolute errors 1 and 3 over 168 hours; 19 arrivals; MAPE over the two hours with arrivals.
    const [week] = backtest.weeks;
    close(week?.mae ?? null, 4 / 168);
    close(week?.wape ?? null, 4 / 19);
    close(week?.mape ?? null, (1 / 11 + 3 / 8) / 2);
    assert.equal(week?.actualArrivals, 19);
    assert.equal(week?.forecastArrivals, 17);
  });

  it('holds out each of the last K weeks, forecasting each from the N weeks before it', () => {
    // One slot, Monday 00:00, weeks oldest first: 2, 4, 6, 9. N = 1 (last week again), K = 3.
    const history = [2, 4, 6, 9].map((n, i) => count(weekStart(4 - i), n));
    const { backtest } = forecastArrivals(history, options({ weeks: 1, backtestWeeks: 3 }));
    // Most recent first: 9 forecast as 6, 6 as 4, 4 as 2.
    assert.deepEqual(
      backtest.weeks.map((w) => [w.actualArrivals, w.forecastArrivals]),
      [
        [9, 6],
        [6, 4],
        [4, 2],
      ],
    );
    close(backtest.overall?.wape ?? null, (3 + 2 + 2) / (9 + 6 + 4));
    close(backtest.overall?.mae ?? null, 7 / (3 * 168));
  });

  it('scales by the trend of the weekly totals', () => {
    // Monday 09:00: 10 two weeks ago, 20 last week. The line through the totals rises 10 a week: 30 next week,
    // which is the mean (15) times 2.
    const history = [count(weekStart(2) + 9 * HOUR, 10), count(weekStart(1) + 9 * HOUR, 20)];
    const { intervals } = forecastArrivals(history, options({ weeks: 2, backtestWeeks: 0, trend: true }));
    assert.equal(intervals[9]?.arrivals, 30);
    const flat = forecastArrivals(history, options({ weeks: 2, backtestWeeks: 0 }));
    assert.equal(flat.intervals[9]?.arrivals, 15);
    assert.equal(flat.backtest.overall, null);
  });

  it("keys weekdays and intervals by the time zone's clock, summing minutes into their interval", () => {
    // Paris is UTC+1 in November: Monday 09:00–09:30 local is 08:00–08:30 UTC. Minute counts at 09:10 and 09:20.
    const monday = weekStart(1);
    const history = [count(monday + 8 * HOUR + 10 * 60_000, 2), count(monday + 8 * HOUR + 20 * 60_000, 3)];
    const { intervals } = forecastArrivals(
      history,
      options({
        timeZone: 'Europe/Paris',
        intervalMinutes: 30,
        weeks: 1,
        backtestWeeks: 0,
        // Mid-interval: the forecast starts at the interval holding it.
        from: new Date(END + 8 * HOUR + 10 * 60_000),
        to: new Date(END + 9 * HOUR),
      }),
    );
    assert.deepEqual(
      intervals.map((i) => [i.start.toISOString(), i.arrivals]),
      [
        ['2026-11-02T08:00:00.000Z', 5],
        ['2026-11-02T08:30:00.000Z', 0],
      ],
    );
  });

  it('puts hours on the local grid of a zone half an hour off UTC', () => {
    const kolkata = localGrid('Asia/Kolkata', 60);
    assert.equal(kolkata.floor(new Date('2026-11-02T10:10:00Z')).toISOString(), '2026-11-02T09:30:00.000Z');
    assert.equal(kolkata.slotsPerWeek, 168);
    // 15:40 local on Monday: slot 15.
    assert.equal(kolkata.slot(new Date('2026-11-02T10:10:00Z')), 15);
    assert.throws(() => localGrid('Mars/Olympus', 60), RangeError);
  });
});
