/** How a number reads on the page; the raw number stays in the element's `data-value`. */

export type ValueUnit = 'seconds' | 'percent' | 'count' | 'number' | string;

export function formatValue(value: number | null | undefined, unit: ValueUnit = 'number'): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (unit === 'percent') return `${value.toFixed(1)} %`;
  if (unit === 'seconds') return formatDuration(value);
  if (unit === 'count') return Math.round(value).toLocaleString('en');
  return Number.isInteger(value)
    ? value.toLocaleString('en')
    : value.toLocaleString('en', { maximumFractionDigits: 2 });
}

/** Seconds as `42 s`, `3 min 05 s`, `2 h 07 min`. */
export function formatDuration(seconds: number): string {
  const sign = seconds < 0 ? '-' : '';
  const total = Math.abs(seconds);
  if (total < 60) return `${sign}${total < 10 ? total.toFixed(1) : Math.round(total)} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${sign}${minutes} min ${String(Math.round(total % 60)).padStart(2, '0')} s`;
  return `${sign}${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

export function formatTime(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString('en-GB', { hour12: false });
}

/** A number from an answer's cell (DuckDB bigints may arrive as strings), or null. */
export function toNumber(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const number = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(number) ? number : null;
}
