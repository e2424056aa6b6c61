import { KPIS, publicKpi, UNIT_DIMENSIONS } from '../../src/kpi/catalogue.ts';
import { UNIT_TABLE } from '../../src/storage/duckdb/kpi-units.ts';
import { type KpiUnit, UNIT_FACTS } from '../../src/storage/storage.ts';
import { codes, table } from './markdown.ts';

/**
 * The KPI units of docs/design/kpi-units.md: what each unit is (the catalogue's words, as `GET /api/v1/kpis`
 * answers them), its facts (the storage contract's UNIT_FACTS), what a KPI over it can be broken down by, the
 * DuckDB table that keeps it, and the KPIs of the catalogue counted over it.
 */
export function kpiUnitsTable(): string {
  const units = Object.keys(UNIT_FACTS) as KpiUnit[];
  const rows = units.map((unit) => {
    const kpis = KPIS.filter((k) => k.unit === unit);
    const first = kpis[0];
    if (!first) throw new Error(`no KPI of the catalogue is counted over ${unit}s: nothing says what one is`);
    const { unitDefinition, dimensions } = publicKpi(first);
    return [
      `\`${unit}\``,
      unitDefinition,
      codes(UNIT_FACTS[unit]),
      codes(dimensions),
      `\`${UNIT_TABLE[unit]}\``,
      codes(kpis.map((k) => k.name)),
    ];
  });
  const extra = Object.keys(UNIT_DIMENSIONS).filter((unit) => !units.includes(unit as KpiUnit));
  if (extra.length > 0)
    throw new Error(`UNIT_DIMENSIONS has units the contract does not: ${extra.join(', ')}`);
  return table(
    ['Unit', 'What one is, and the range it counts in', 'Facts', 'Dimensions', 'DuckDB table', 'KPIs'],
    rows,
  );
}
