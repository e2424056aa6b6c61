import { formatValue, type ValueUnit } from '../format.ts';

/**
 * One number and its label. Every number is rendered as `<span data-kpi="<name>" data-value="<raw>">` so tests
 * and scripts read exactly what the API answered, whatever the formatting.
 */
export function KpiValue({
  name,
  value,
  unit,
}: {
  name: string;
  value: number | null | undefined;
  unit?: ValueUnit;
}) {
  return (
    <span
      class="kpi-value"
      data-kpi={name}
      data-value={value === null || value === undefined ? '' : String(value)}
    >
      {formatValue(value, unit)}
    </span>
  );
}

export interface KpiCardProps {
  /** The measure's name in the query (its `as`), used as `data-kpi`. */
  name: string;
  label: string;
  value: number | null | undefined;
  unit?: ValueUnit;
  /** The same measure in the comparison period (`previous.<name>`), shown as a change. */
  previous?: number | null;
  /** A second number to set against this one (the team's, a target), with what it is. */
  reference?: { name: string; label: string; value: number | null | undefined };
  /** Whether a larger value is better, to colour the change; omit to leave it neutral. */
  higherIsBetter?: boolean;
  hint?: string;
}

export function KpiCard({
  name,
  label,
  value,
  unit,
  previous,
  reference,
  higherIsBetter,
  hint,
}: KpiCardProps) {
  const change =
    previous !== undefined && previous !== null && value !== null && value !== undefined
      ? value - previous
      : null;
  const tone =
    change === null || change === 0 || higherIsBetter === undefined
      ? 'neutral'
      : change > 0 === higherIsBetter
        ? 'good'
        : 'bad';
  return (
    <section class="kpi-card" aria-label={label} title={hint}>
      <h3 class="kpi-label">{label}</h3>
      <KpiValue name={name} value={value} unit={unit} />
      {previous !== undefined && (
        <p class={`kpi-change ${tone}`}>
          {change === null ? 'no previous period' : `${change >= 0 ? '+' : ''}${formatValue(change, unit)}`}{' '}
          <span class="muted">
            vs previous <KpiValue name={`previous.${name}`} value={previous} unit={unit} />
          </span>
        </p>
      )}
      {reference && (
        <p class="kpi-reference muted">
          {reference.label} <KpiValue name={reference.name} value={reference.value} unit={unit} />
        </p>
      )}
    </section>
  );
}
