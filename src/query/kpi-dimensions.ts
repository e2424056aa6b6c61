import type { Violation } from '../core/errors.ts';
import { UNIT_DIMENSIONS } from '../kpi/catalogue.ts';
import { filterFields } from './filters.ts';
import type { ResolvedKpi } from './measures.ts';

/**
 * A KPI counts units (conversations, sessions…), not events: a query with KPIs can be grouped and filtered by
 * the fields its units have only. Every dimension and filter field must be one that each KPI of the spec can
 * be broken down by.
 */
export function checkKpiFields(
  kpis: ResolvedKpi[],
  dimensions: string[],
  filters: unknown[],
  violations: Violation[],
) {
  const fields = [
    ...dimensions.map((name, i) => ({ name, at: `dimensions[${i}]` })),
    ...filters.flatMap((f, i) => filterFields(f, `filters[${i}]`)),
  ];
  for (const { name, at } of fields) {
    const refusing = kpis.find(({ kpi }) => {
      const allowed = UNIT_DIMENSIONS[kpi.unit];
      return name.startsWith('customData.') ? !allowed.customData : !allowed.fields.includes(name);
    });
    if (!refusing) continue;
    const allowed = UNIT_DIMENSIONS[refusing.kpi.unit];
    violations.push({
      field: at,
      rule: 'kpiDimension',
      limit: [...allowed.fields, ...(allowed.customData ? ['customData.<key>'] : [])],
      message:
        `${refusing.name} counts ${refusing.kpi.unit}s, which have no ${name}: use ` +
        `${allowed.fields.join(', ')}${allowed.customData ? ' or customData.<key>' : ''}`,
      received: name,
    });
  }
}
