import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { Browser } from 'playwright-core';
import { browserSkipReason } from '../helpers/browser.ts';
import {
  type ApiCall,
  dashboardForSuite,
  openDashboard,
  pageUrl,
  recordApiCalls,
  sameNumber,
  settled,
} from '../helpers/dashboard.ts';
import { call, ROOT, type TestServer } from '../helpers/server.ts';

/**
 * The numbers of the Agent, Supervisor and Manager pages are the query API's answers for the same range and
 * filters. Each page exports `queriesFor` (its query specs for the URL's parameters and one instant, which the
 * page shows as `data-now`) and the function that turns the answers into its numbers; here the page's own
 * requests must be exactly those specs, the specs are sent again from Node with the same key, and every
 * `data-kpi` shown must equal what those answers give; so must the numbers from the alerts and staffing APIs,
 * whose calls are made again too. A few headline numbers are also checked against a query written here by hand.
 */

const skip = browserSkipReason();

type Spec = Record<string, unknown>;
type Answers = Record<string, { rows: Record<string, unknown>[] }>;
type Numbers = Record<string, number | null>;

/** What one render of a page showed: its instant, its zone, and every number by name. */
interface Snapshot {
  now: string;
  timeZone: string | undefined;
  numbers: Numbers;
}

/**
 * A page's pure query module, loaded at run time: the dashboard is type-checked by its own tsconfig (DOM,
 * JSX), not by the root one this test is.
 */
async function pageModule(file: string): Promise<Record<string, (...args: never[]) => unknown>> {
  return import(pathToFileURL(path.join(ROOT, 'dashboard/src/pages', file)).href);
}

describe('the people pages show what the query API answers', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let key: string;
  // A fixed range of three days (and three before it to compare with), so the page and this test mean the same
  // instants.
  const to = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  const from = new Date(to.getTime() - 3 * 86_400_000);
  const span = { from: from.toISOString(), to: to.toISOString() };
  const range = { preset: 'custom', ...span };
  const chat = [{ field: 'channel', op: 'eq', value: 'chat' }];

  dashboardForSuite(['analytics:read'], (suite) => {
    ({ server, browser, key } = suite);
  });

  const query = async (spec: Spec) => {
    const answer = await call<{ rows: Record<string, unknown>[] }>(`${server.url}/api/v1/query`, {
      token: key,
      body: spec,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  };
  const get = async <T>(path: string) => {
    const answer = await call<T>(`${server.url}${path}`, { token: key });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  };
  const single = async (spec: Spec, column: string) => {
    const value = (await query(spec)).rows[0]?.[column];
    return value === null || value === undefined ? null : Number(value);
  };

  const views = [
    {
      name: 'agent',
      module: 'agent/queries.ts',
      params: { ...range, agent: 'agent-007' },
      numbers: (m: Awaited<ReturnType<typeof pageModule>>, answers: Answers, shown: Snapshot) =>
        (m.agentNumbers as (a: Answers, agent: string, now: Date) => Numbers)(
          answers,
          'agent-007',
          new Date(shown.now),
        ),
      others: async (): Promise<Numbers> => ({}),
      byHand: async (shown: Snapshot): Promise<Numbers> => {
        const agent = [{ field: 'participantId', op: 'eq', value: 'agent-007' }];
        return {
          'agent.averageHandleTime': await single(
            { measures: ['averageHandleTime'], filters: agent, ...span },
            'averageHandleTime',
          ),
          'team.averageHandleTime': await single(
            { measures: ['averageHandleTime'], ...span },
            'averageHandleTime',
          ),
          'agent.notificationAcceptanceRate': await single(
            { measures: [{ kpi: 'notificationAcceptanceRate', as: 'accept' }], filters: agent, ...span },
            'accept',
          ),
          ...(shown.numbers['presenceTime.Available'] === undefined
            ? {}
            : {
                'presenceTime.Available': await single(
                  {
                    measures: ['presenceTime'],
                    filters: [...agent, { field: 'newPresence', op: 'eq', value: 'Available' }],
                    ...span,
                  },
                  'presenceTime',
                ),
              }),
        };
      },
    },
    {
      name: 'supervisor',
      module: 'supervisor/queries.ts',
      params: {},
      numbers: (m: Awaited<ReturnType<typeof pageModule>>, answers: Answers, shown: Snapshot) =>
        (m.supervisorNumbers as (a: Answers, now: Date) => Numbers)(answers, new Date(shown.now)),
      others: async (_shown: Snapshot, _answers: Answers, calls: ApiCall[]): Promise<Numbers> => {
        const path = '/api/v1/alerts?limit=50';
        assert.ok(calls.some((c) => c.path === path));
        const { alerts } = await get<{ alerts: { id: string; status: string; value: number | null }[] }>(
          path,
        );
        return {
          'alerts.firing': alerts.filter((alert) => alert.status === 'firing').length,
          ...Object.fromEntries(alerts.map((alert) => [`alert.${alert.id}.value`, alert.value])),
        };
      },
      byHand: async (shown: Snapshot): Promise<Numbers> => {
        const now = new Date(shown.now).getTime();
        const last = (minutes: number) => ({
          from: new Date(now - minutes * 60_000).toISOString(),
          to: shown.now,
        });
        return {
          'last15.serviceLevel': await single({ measures: ['serviceLevel'], ...last(15) }, 'serviceLevel'),
          'last60.serviceLevel': await single({ measures: ['serviceLevel'], ...last(60) }, 'serviceLevel'),
          'last60.averageSpeedToAnswer': await single(
            { measures: ['averageSpeedToAnswer'], ...last(60) },
            'averageSpeedToAnswer',
          ),
          'last60.abandonedConversations': await single(
            { measures: ['abandonedConversations'], ...last(60) },
            'abandonedConversations',
          ),
        };
      },
    },
    {
      name: 'manager',
      module: 'manager/queries.ts',
      params: { ...range, filters: JSON.stringify(chat) },
      numbers: (m: Awaited<ReturnType<typeof pageModule>>, answers: Answers) =>
        (m.managerNumbers as (a: Answers) => Numbers)(answers),
      others: async (shown: Snapshot, answers: Answers, calls: ApiCall[]): Promise<Numbers> => {
        const forecast = await pageModule('manager/forecast.ts');
        const aht = answers.totals?.rows[0]?.averageHandleTime;
        const body = (
          forecast.staffingBody as (p: object, now: Date, zone: string, aht: number | null) => Spec
        )(
          { ...range, filters: JSON.stringify(chat) },
          new Date(shown.now),
          shown.timeZone ?? 'UTC',
          aht === null || aht === undefined ? null : Number(aht),
        );
        assert.ok(
          calls.some((c) => c.path === '/api/v1/staffing' && isDeepStrictEqual(c.body, body)),
          `the page asked POST /api/v1/staffing ${JSON.stringify(body)}`,
        );
        const answer = await call(`${server.url}/api/v1/staffing`, { token: key, body });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        // The held-out weeks' table, read from the answer here (staffingNumbers covers the headline only).
        const { backtest } = (
          answer.body as { forecast: { backtest: { weeks: Record<string, number | null>[] } } }
        ).forecast;
        const weeks = backtest.weeks.flatMap((week, index) => [
          [`backtest.${index}.actual`, week.actualArrivals],
          [`backtest.${index}.forecast`, week.forecastArrivals],
          [`backtest.${index}.mae`, week.mae],
          [`backtest.${index}.wape`, typeof week.wape === 'number' ? week.wape * 100 : null],
        ]);
        return {
          ...(forecast.staffingNumbers as (a: unknown) => Numbers)(answer.body),
          ...Object.fromEntries(weeks),
        };
      },
      byHand: async (): Promise<Numbers> => {
        const previous = (
          await query({ measures: ['conversations'], filters: chat, ...span, compare: 'previousPeriod' })
        ).rows[0];
        return {
          conversations: Number(previous?.conversations),
          'previous.conversations': Number(previous?.['previous.conversations']),
          averageHandleTime: await single(
            { measures: ['averageHandleTime'], filters: chat, ...span },
            'averageHandleTime',
          ),
          serviceLevel: await single({ measures: ['serviceLevel'], filters: chat, ...span }, 'serviceLevel'),
        };
      },
    },
  ] as const;

  for (const view of views) {
    it(`${view.name}: every number equals the query API's answer`, async () => {
      const { context, page, trouble } = await openDashboard(browser, server, { credential: key });
      try {
        const calls = recordApiCalls(page, server);
        await page.goto(pageUrl(server, view.name, view.params));
        await settled(page);
        // One render, read at once: a live page may re-render between two reads.
        const shown: Snapshot = await page.evaluate(() => {
          const root = document.querySelector('[data-now]') as HTMLElement | null;
          const numbers: Record<string, number | null> = {};
          for (const element of document.querySelectorAll<HTMLElement>('[data-kpi]')) {
            const value = element.dataset.value ?? '';
            numbers[element.dataset.kpi ?? ''] = value === '' ? null : Number(value);
          }
          return { now: root?.dataset.now ?? '', timeZone: root?.dataset.timeZone, numbers };
        });
        assert.ok(shown.now, 'the page shows the instant of its queries as data-now');

        const module = await pageModule(view.module);
        const specs = (module.queriesFor as (p: object, now: Date, zone?: string) => Record<string, Spec>)(
          view.params,
          new Date(shown.now),
          shown.timeZone,
        );
        const sent = calls.filter((c) => c.path === '/api/v1/query').map((c) => c.body);
        const answers: Answers = {};
        for (const [name, spec] of Object.entries(specs)) {
          const plain = JSON.parse(JSON.stringify(spec)) as Spec;
          // A panel polled on its own clock (the Agent page's live conversations) asks the same spec over a
          // window ending at its own poll's instant: its latest request stands for it.
          const sameBut = (body: unknown) => {
            const { from: _f, to: _t, ...rest } = body as Spec;
            const { from: _pf, to: _pt, ...wanted } = plain;
            return isDeepStrictEqual(rest, wanted);
          };
          const asked = sent.find((body) => isDeepStrictEqual(body, plain)) ?? sent.findLast(sameBut);
          assert.ok(asked, `the page sent ${name} as queriesFor gives it: ${JSON.stringify(plain)}`);
          answers[name] = await query(asked as Spec);
        }

        // The numbers from other APIs (alerts, staffing): the page's call, made again from here.
        const expected = {
          ...view.numbers(module, answers, shown),
          ...(await view.others(shown, answers, calls)),
        };
        assert.deepEqual(
          Object.keys(shown.numbers).filter((kpi) => !(kpi in expected)),
          [],
          'every number shown is accounted for',
        );
        assert.ok(
          Object.keys(shown.numbers).length >= 5,
          `${view.name} shows ${Object.keys(shown.numbers).length} numbers`,
        );
        for (const [kpi, value] of Object.entries(shown.numbers)) {
          assert.ok(sameNumber(value, expected[kpi]), `${kpi}: shown ${value}, answered ${expected[kpi]}`);
        }
        // Independently of the page's code: a few numbers as a hand-written query answers them.
        for (const [kpi, value] of Object.entries(await view.byHand(shown))) {
          assert.ok(kpi in shown.numbers, `${kpi} is shown`);
          assert.ok(
            sameNumber(shown.numbers[kpi], value),
            `${kpi}: shown ${shown.numbers[kpi]}, by hand ${value}`,
          );
        }
        assert.deepEqual(trouble.errors, []);
        assert.deepEqual(trouble.foreign, []);
      } finally {
        await context.close();
      }
    });
  }
});
