import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentsNeeded } from '../../src/forecast/erlang.ts';
import { startConversation, unique } from '../helpers/channel.ts';
import { violationsOf } from '../helpers/errors.ts';
import { call, createKey, serverForSuite, type TestServer } from '../helpers/server.ts';

/**
 * `POST /api/v1/forecast` and `/api/v1/staffing` on a real server, over events written through the batch API
 * into an organization of their own, whose counts are laid out so that the forecast is worked by hand.
 */

let server: TestServer;
let reader: string;
const ORG = unique('forecast');
const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
// History ends (and the forecast starts) on an hour a day back: three weeks of history stay inside the
// 30-day bound on event times.
const END = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

serverForSuite(async (s) => {
  server = s;
  const created = await call(`${server.url}/api/v1/orgs`, { token: server.masterKey, body: { id: ORG } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  reader = await createKey(server, ['analytics:read'], ORG);
});

async function batch(events: Record<string, unknown>[]) {
  const answer = await call<{ results: { status: string }[] }>(
    `${server.url}/api/v1/events/batch?org=${ORG}`,
    {
      token: server.masterKey,
      body: { events },
    },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  for (const result of answer.body.results) assert.equal(result.status, 'accepted', JSON.stringify(result));
}

const custom = (eventType: string, at: number) => ({
  kind: 'custom',
  eventType,
  eventValue: 'arrived',
  language: 'en',
  eventTime: iso(at),
});

/**
 * 'call' events two hours into each history week (week w is [END − (w+1)·7 days, END − w·7 days)), oldest
 * first: 2, 6 and 5; and 'noise' events that the filter leaves out.
 */
async function writeCalls() {
  const perWeek = [5, 6, 2];
  const events = perWeek.flatMap((n, w) =>
    Array.from({ length: n }, (_, i) => custom('call', END - (w + 1) * WEEK + 2 * HOUR + i * 60_000)),
  );
  await batch([...events, custom('noise', END - WEEK + 2 * HOUR), custom('noise', END - WEEK + 3 * HOUR)]);
}

const forecastBody = {
  from: iso(END),
  to: iso(END + 6 * HOUR),
  intervalMinutes: 60,
  weeks: 2,
  backtestWeeks: 1,
  measure: 'count',
  filters: [{ field: 'eventType', op: 'eq', value: 'call' }],
};

interface ForecastBody {
  intervals: { start: string; end: string; arrivals: number }[];
  history: { from: string; to: string };
  backtest: {
    weeks: { from: string; to: string; mae: number; wape: number | null; actualArrivals: number }[];
    overall: { mae: number; wape: number | null; mape: number | null } | null;
  };
}

interface StaffingBody {
  intervals: {
    start: string;
    arrivals: number;
    agents: number;
    serviceLevel: number;
    asaSeconds: number;
    occupancy: number;
    trafficErlangs: number;
    probabilityOfWaiting: number;
  }[];
  forecast?: { backtest: unknown };
}

describe('POST /api/v1/forecast', () => {
  it('forecasts from the counts the query API answers, with the backtest of the last week', async () => {
    await writeCalls();
    const answer = await call<ForecastBody>(`${server.url}/api/v1/forecast`, {
      token: reader,
      body: forecastBody,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const { intervals, history, backtest } = answer.body;
    assert.deepEqual(history, { from: iso(END - 3 * WEEK), to: iso(END) });
    // Two hours in: the mean of the last two weeks (5 and 6); nothing else arrived at the same weekday and hour.
    assert.deepEqual(
      intervals.map((i) => i.arrivals),
      [0, 0, 5.5, 0, 0, 0],
    );
    assert.equal(intervals[2]?.start, iso(END + 2 * HOUR));
    assert.equal(intervals[2]?.end, iso(END + 3 * HOUR));
    // The last week (5) forecast from the two before it (6 and 2): 4, off by 1 in one of 168 hours.
    assert.equal(backtest.weeks.length, 1);
    assert.equal(backtest.weeks[0]?.from, iso(END - WEEK));
    assert.equal(backtest.weeks[0]?.actualArrivals, 5);
    assert.equal(backtest.weeks[0]?.mae, 1 / 168);
    assert.equal(backtest.weeks[0]?.wape, 1 / 5);
    assert.equal(backtest.overall?.mape, 1 / 5);

    // The same history through the query API: 13 calls in the three weeks.
    const query = await call<{ rows: { count: number }[] }>(`${server.url}/api/v1/query`, {
      token: reader,
      body: { measures: ['count'], filters: forecastBody.filters, from: history.from, to: history.to },
    });
    assert.equal(query.body.rows[0]?.count, 13);
  });

  it('counts queued conversations by default', async () => {
    // Two conversations queued one hour into last week; the forecast (last week again) has 2 at END + 1 h.
    const conversations = [
      await startConversation(server, { org: ORG }),
      await startConversation(server, { org: ORG }),
    ];
    await batch(
      conversations.map((c, i) => ({
        kind: 'kpi',
        data: {
          conversationId: c.conversationId,
          events: [
            { kpiEventName: 'ConversationQueued', eventTimestamp: iso(END - WEEK + HOUR + i * 60_000) },
          ],
        },
        eventName: 'ConversationQueued',
      })),
    );
    const answer = await call<ForecastBody>(`${server.url}/api/v1/forecast`, {
      token: reader,
      body: { from: iso(END), to: iso(END + 2 * HOUR), weeks: 1, backtestWeeks: 0, timeZone: 'Europe/Paris' },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    // 30-minute intervals by default: the conversations fall in the third.
    assert.deepEqual(
      answer.body.intervals.map((i) => i.arrivals),
      [0, 0, 2, 0],
    );
    assert.equal(answer.body.backtest.overall, null);
  });

  it('refuses a range backwards or too long, a bad time zone, a bad filter, and a key without analytics:read', async () => {
    const backwards = violationsOf(
      await call(`${server.url}/api/v1/forecast`, {
        token: reader,
        body: { ...forecastBody, from: forecastBody.to, to: forecastBody.from },
      }),
    );
    assert.deepEqual(
      backwards.map((v) => [v.field, v.rule]),
      [['from', 'range']],
    );
    const long = violationsOf(
      await call(`${server.url}/api/v1/forecast`, {
        token: reader,
        body: { ...forecastBody, to: iso(END + 32 * 24 * HOUR) },
      }),
    );
    assert.deepEqual(
      long.map((v) => [v.field, v.rule]),
      [['to', 'range']],
    );
    const zone = violationsOf(
      await call(`${server.url}/api/v1/forecast`, {
        token: reader,
        body: { ...forecastBody, timeZone: 'Mars/Olympus' },
      }),
    );
    assert.deepEqual(
      zone.map((v) => [v.field, v.rule]),
      [['timeZone', 'timeZone']],
    );
    const filter = violationsOf(
      await call(`${server.url}/api/v1/forecast`, {
        token: reader,
        body: { ...forecastBody, filters: [{ field: 'nope', op: 'eq', value: 1 }] },
      }),
    );
    assert.equal(filter[0]?.field.startsWith('filters[0]'), true, JSON.stringify(filter));
    const interval = violationsOf(
      await call(`${server.url}/api/v1/forecast`, {
        token: reader,
        body: { ...forecastBody, intervalMinutes: 20 },
      }),
    );
    assert.equal(interval[0]?.field, 'intervalMinutes');
    const writer = await createKey(server, ['analytics:write'], ORG);
    const refused = await call(`${server.url}/api/v1/forecast`, { token: writer, body: forecastBody });
    assert.equal(refused.status, 403);
  });
});

describe('POST /api/v1/staffing', () => {
  it("staffs given arrivals by Erlang C: Call Centre Helper's 100 calls per 30 min at 180 s, 80/20 → 14", async () => {
    const answer = await call<StaffingBody>(`${server.url}/api/v1/staffing`, {
      token: reader,
      body: {
        intervals: [
          { start: iso(END), arrivals: 100 },
          { start: iso(END + HOUR / 2), arrivals: 0 },
        ],
        ahtSeconds: 180,
        targetServiceLevel: 0.8,
        targetAnswerSeconds: 20,
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [busy, quiet] = answer.body.intervals;
    assert.equal(busy?.agents, 14);
    assert.equal(busy?.trafficErlangs, 10);
    assert.ok(Math.abs((busy?.serviceLevel ?? 0) - 0.8884) < 5e-5);
    assert.ok(Math.abs((busy?.asaSeconds ?? 0) - 7.84) < 5e-3);
    assert.equal(quiet?.agents, 0);
    assert.equal(answer.body.forecast, undefined);
  });

  it('staffs the forecast when no arrivals are given, with its backtest', async () => {
    const answer = await call<StaffingBody>(`${server.url}/api/v1/staffing`, {
      token: reader,
      body: { ...forecastBody, ahtSeconds: 600, maxOccupancy: 0.85 },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const expected = agentsNeeded(5.5, {
      ahtSeconds: 600,
      intervalSeconds: 3600,
      targetServiceLevel: 0.8,
      targetAnswerSeconds: 20,
      maxOccupancy: 0.85,
    });
    assert.deepEqual(answer.body.intervals[2], {
      start: iso(END + 2 * HOUR),
      end: iso(END + 3 * HOUR),
      arrivals: 5.5,
      ...expected,
    });
    assert.equal(answer.body.intervals[0]?.agents, 0);
    assert.ok(answer.body.forecast?.backtest);
  });

  it('needs either arrivals or a range, not both', async () => {
    const neither = violationsOf(
      await call(`${server.url}/api/v1/staffing`, { token: reader, body: { ahtSeconds: 180 } }),
    );
    assert.deepEqual(
      neither.map((v) => [v.field, v.rule]),
      [
        ['from', 'required'],
        ['to', 'required'],
      ],
    );
    const both = violationsOf(
      await call(`${server.url}/api/v1/staffing`, {
        token: reader,
        body: { ...forecastBody, intervals: [{ start: iso(END), arrivals: 1 }], ahtSeconds: 180 },
      }),
    );
    assert.ok(both.some((v) => v.field === 'from'));
    const overload = violationsOf(
      await call(`${server.url}/api/v1/staffing`, {
        token: reader,
        body: { intervals: [{ start: iso(END), arrivals: 1_000_000 }], ahtSeconds: 86_400 },
      }),
    );
    assert.deepEqual(
      overload.map((v) => [v.field, v.rule]),
      [['intervals[0].arrivals', 'range']],
    );
  });
});
