import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KPIS } from '../src/kpi/catalogue.ts';
import { FIRST_PARTY_KPI_EVENTS, type KpiEventSource } from '../src/model/first-party-kpi-events.ts';
import { cliReference } from './readme-tables/cli.ts';
import { environmentTable } from './readme-tables/configuration.ts';
import { coveoTypesTable, eventFieldsTable } from './readme-tables/dimensions.ts';
import { errorBodyTable, errorCodesTable, rulesTable } from './readme-tables/errors.ts';
import { kpiUnitsTable } from './readme-tables/kpi-units.ts';
import { layersDiagram } from './readme-tables/layers.ts';
import { cell, table } from './readme-tables/markdown.ts';
import { routesTable } from './readme-tables/ua-answers.ts';
import { collectTable, customEventTable, kindsTable } from './readme-tables/ua-fields.ts';

/**
 * The documentation's reference tables that repeat the code, rendered from the code. Each sits between
 * `<!-- table:<name> -->` and `<!-- /table -->` in the document that describes it (the UA Write API's in
 * docs/api/ua-write.md, the errors in docs/api/errors.md, the environment variables in
 * docs/operations/configuration.md, the commands in docs/operations/cli.md…); `npm run docs:tables` rewrites
 * them in every document, and a test fails when a document holds anything else, or when a table has no place
 * or two.
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
  'error-body': errorBodyTable,
  'error-codes': errorCodesTable,
  rules: rulesTable,
  environment: environmentTable,
  cli: cliReference,
  layers: layersDiagram,
  'kpi-units': kpiUnitsTable,
  'event-fields': eventFieldsTable,
  'coveo-dimension-types': coveoTypesTable,
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

const ROOT = path.resolve(import.meta.dirname, '..');
const BLOCK = /(<!-- table:([a-z0-9-]+) -->)[\s\S]*?(<!-- \/table -->)/g;

/** Every Markdown file a table may live in: the README, CONTRIBUTING.md and docs/, in a fixed order. */
export function docFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => path.join(ROOT, 'docs', file))
    .sort();
  return [path.join(ROOT, 'README.md'), path.join(ROOT, 'CONTRIBUTING.md'), ...docs].filter((file) =>
    existsSync(file),
  );
}

/** A document with every generated table rendered anew; names a marker without a renderer. */
export function renderTables(doc: string, file = 'a document'): string {
  return doc.replace(BLOCK, (_, open: string, name: string, close: string) => {
    const render = TABLES[name];
    if (!render)
      throw new Error(`${file} names a table "${name}" that scripts/readme-tables.ts does not render`);
    return `${open}\n\n${render()}\n\n${close}`;
  });
}

/** The tables a document has a place for. */
export const tablesIn = (doc: string) => [...doc.matchAll(BLOCK)].map((m) => m[2] as string);

/** A file's path from the repository's root, for messages. */
export const shortName = (file: string) => path.relative(ROOT, file);

if (process.argv[1] === import.meta.filename) {
  const rewritten: string[] = [];
  for (const file of docFiles()) {
    const before = readFileSync(file, 'utf8');
    const after = renderTables(before, shortName(file));
    if (after !== before) {
      writeFileSync(file, after);
      rewritten.push(shortName(file));
    }
  }
  process.stdout.write(
    rewritten.length === 0
      ? 'Documentation tables are up to date\n'
      : `Tables rewritten in ${rewritten.join(', ')}\n`,
  );
}
