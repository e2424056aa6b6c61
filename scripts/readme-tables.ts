import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FIRST_PARTY_KPI_EVENTS, type KpiEventSource } from '../src/model/first-party-kpi-events.ts';
import { KPIS } from '../src/query/kpis.ts';
import { cell, table } from './readme-tables/markdown.ts';
import { errorsTable, routesTable } from './readme-tables/ua-answers.ts';
import { collectTable, customEventTable, kindsTable } from './readme-tables/ua-fields.ts';

/**
 * The README's reference tables that repeat the code, rendered from the code. Each sits between
 * `<!-- table:<name> -->` and `<!-- /table -->`; `npm run docs:tables` rewrites them, and a test fails when
 * the README holds anything else.
 */

const SOURCE_NAMES: Record<KpiEventSource, string> = {
  openua: 'OpenUA',
  cif2019: 'CIF 2019',
  cifLater: 'CIF later',
};

export const TABLES: Record<string, () => string> = {
  'ua-routes': routesTable,
  'ua-custom-fields': customEventTable,
  'ua-kind-fields': kindsTable,
  'ua-collect-fields': collectTable,
  'ua-errors': errorsTable,
  'first-party-kpi-events': () =>
    table(
      ['Name', 'Sent by', 'Counted as', 'Meaning (and the fields it carries)'],
      FIRST_PARTY_KPI_EVENTS.map((e) => [
        `\`${e.name}\``,
        e.sources.map((s) => SOURCE_NAMES[s]).join(', '),
        e.countsAs ? `\`${e.countsAs.name}\`${e.countsAs.action ? ` (${e.countsAs.action})` : ''}` : 'itself',
        cell(e.description),
      ]),
    ),
  kpis: () =>
    table(
      ['KPI', 'Unit', 'Value', 'Definition'],
      KPIS.map((k) => [`\`${k.name}\``, k.unit, k.valueUnit, cell(k.definition)]),
    ),
};

export const README = path.resolve(import.meta.dirname, '../README.md');
const BLOCK = /(<!-- table:([a-z0-9-]+) -->)[\s\S]*?(<!-- \/table -->)/g;

/** The README with every generated table rendered anew; names a marker without a renderer. */
export function renderTables(readme: string): string {
  return readme.replace(BLOCK, (_, open: string, name: string, close: string) => {
    const render = TABLES[name];
    if (!render)
      throw new Error(`README names a table "${name}" that scripts/readme-tables.ts does not render`);
    return `${open}\n\n${render()}\n\n${close}`;
  });
}

/** The tables the README has a place for. */
export const tablesIn = (readme: string) => [...readme.matchAll(BLOCK)].map((m) => m[2] as string);

if (process.argv[1] === import.meta.filename) {
  const before = readFileSync(README, 'utf8');
  const after = renderTables(before);
  if (after !== before) writeFileSync(README, after);
  process.stdout.write(after === before ? 'README tables are up to date\n' : 'README tables rewritten\n');
}
