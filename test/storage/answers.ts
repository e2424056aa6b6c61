import assert from 'node:assert/strict';
import { readConfig } from '../../src/core/config.ts';
import { KPIS, UNIT_DIMENSIONS } from '../../src/kpi/catalogue.ts';
import type { InsightAnswer } from '../../src/query/insights.ts';
import { createServices, type Services } from '../../src/startup/services.ts';
import { openStorage } from '../../src/storage/open-storage.ts';

/**
 * What the same-answers checks share (test/storage/same-answers.test.ts, test/cli/migrate.test.ts): the query specs
 * that exercise every KPI of the catalogue, each with every non-default value of its parameters, and answers made
 * comparable across engines.
 */

export interface NamedSpec {
  name: string;
  spec: Record<string, unknown>;
}

/** Values other than the default that a parameter is also tried with. */
function variants(p: (typeof KPIS)[number]['parameters'][number]): (number | boolean | string)[] {
  if (p.type === 'boolean') return [!p.default];
  if (p.type === 'enum') return (p.values ?? []).filter((v) => v !== p.default);
  return [Math.min(Number(p.default) + 15, p.max ?? Number.POSITIVE_INFINITY)];
}

/**
 * Every KPI of the catalogue, over [from, to): per day by a dimension of its unit (channel, or the presence status),
 * and per agent over the whole range; each parameter's other values per agent.
 */
export function kpiSpecs(from: string, to: string): NamedSpec[] {
  const specs: NamedSpec[] = [];
  for (const kpi of KPIS) {
    const byDay = kpi.unit === 'presence' ? 'newPresence' : 'channel';
    assert.ok(UNIT_DIMENSIONS[kpi.unit].fields.includes(byDay));
    specs.push({
      name: `${kpi.name} per day by ${byDay}`,
      spec: { measures: [kpi.name], dimensions: [byDay], granularity: 'day', from, to },
    });
    const measures: unknown[] = [kpi.name];
    for (const p of kpi.parameters) {
      for (const value of variants(p))
        measures.push({ kpi: kpi.name, [p.name]: value, as: `${p.name}_${value}` });
    }
    specs.push({
      name: `${kpi.name} by agent${measures.length > 1 ? ', with its parameters' : ''}`,
      spec: { measures, dimensions: ['participantId'], from, to, limit: 10_000 },
    });
  }
  return specs;
}

/** An answer as engines must agree on it: its columns, its rows (in their order), its type errors. */
export function comparable(answer: InsightAnswer) {
  const rows = answer.rows.map((row) =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])),
  );
  return {
    columns: answer.columns,
    rows,
    typeErrors: answer.meta.typeErrors,
    rowCount: answer.meta.rowCount,
  };
}

/**
 * Engines add floating point in different orders, so a mean may differ in its last bits (951.25696875 against
 * 951.2569687499999): numbers are equal within one part in 10^9; everything else exactly.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number')
    return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return a === b;
}

/** Where two comparable answers differ, or undefined. */
function difference(
  expected: ReturnType<typeof comparable>,
  actual: ReturnType<typeof comparable> | undefined,
): string | undefined {
  if (!actual) return 'no answer';
  const { rows: expectedRows, ...expectedRest } = expected;
  const { rows: actualRows, ...actualRest } = actual;
  try {
    assert.deepEqual(actualRest, expectedRest);
  } catch (error) {
    return (error as Error).message;
  }
  for (let i = 0; i < Math.max(expectedRows.length, actualRows.length); i++) {
    const [e, a] = [expectedRows[i], actualRows[i]];
    const keys = new Set([...Object.keys(e ?? {}), ...Object.keys(a ?? {})]);
    if (!e || !a || [...keys].some((k) => !sameValue(e[k], a[k])))
      return `row ${i}: expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`;
  }
  return undefined;
}

/** Each spec's comparable answer. */
export async function answersOf(
  services: Services,
  org: string,
  specs: readonly NamedSpec[],
  now: Date,
): Promise<Map<string, ReturnType<typeof comparable>>> {
  const out = new Map<string, ReturnType<typeof comparable>>();
  for (const { name, spec } of specs) out.set(name, comparable(await services.insights.run(org, spec, now)));
  return out;
}

/**
 * Every part of a server over the store these settings name (the environment a server would read), opened through
 * openStorage as the server opens it. `dataDir` holds the ingest log (and DuckDB's file when no ClickHouse is set).
 */
export async function openServices(env: Record<string, string>): Promise<Services> {
  const config = readConfig({ OPENUA_LOG_LEVEL: 'warn', ...env });
  const storage = await openStorage(config.storage);
  return createServices(config, storage).catch(async (error: unknown) => {
    await storage.close().catch(() => undefined);
    throw error;
  });
}

/** Asserts two engines' answers are the same, spec by spec, naming each that differs and where. */
export function assertSameAnswers(
  expected: Map<string, ReturnType<typeof comparable>>,
  actual: Map<string, ReturnType<typeof comparable>>,
  labels: [string, string],
) {
  const differ: string[] = [];
  for (const [name, answer] of expected) {
    const why = difference(answer, actual.get(name));
    if (why) differ.push(`${name}: ${why.slice(0, 1500)}`);
  }
  assert.deepEqual(
    differ,
    [],
    `${differ.length} of ${expected.size} answers differ between ${labels.join(' and ')}`,
  );
}
