import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { formatValue, type ValueUnit } from '../format.ts';
import { KpiValue } from './KpiCard.tsx';

export interface Column<Row> {
  key: string;
  label: string;
  /** Right-aligned, sorted as numbers; with `unit`, formatted. */
  numeric?: boolean;
  unit?: ValueUnit;
  /** Render numbers as `data-kpi` spans (named `<kpi>` in the cell), so they can be read back exactly. */
  kpi?: string;
  /** The cell's content; default the row's value at `key`. */
  render?: (row: Row) => ComponentChildren;
  /** The value sorted on; default the row's value at `key`. */
  sortValue?: (row: Row) => string | number | null;
}

export interface DataTableProps<Row> {
  testId: string;
  caption?: string;
  columns: Column<Row>[];
  rows: Row[];
  /** A stable key per row; default its index. */
  rowKey?: (row: Row, index: number) => string;
  /** Opens a row (click, or Enter on a focused row). */
  onOpen?: (row: Row) => void;
  initialSort?: { key: string; direction: 'asc' | 'desc' };
}

const cellOf = (row: unknown, key: string) => (row as Record<string, unknown>)[key];

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const numberA = Number(a);
  const numberB = Number(b);
  if (Number.isFinite(numberA) && Number.isFinite(numberB) && a !== '' && b !== '') return numberA - numberB;
  return String(a).localeCompare(String(b));
}

/**
 * A table sorted by clicking (or Enter/Space on) a header; rows take the keyboard focus and open with Enter when
 * the table has `onOpen`.
 */
export function DataTable<Row>({
  testId,
  caption,
  columns,
  rows,
  rowKey,
  onOpen,
  initialSort,
}: DataTableProps<Row>) {
  const [sort, setSort] = useState(initialSort);
  const sorted = useMemo(() => {
    if (!sort) return rows;
    const column = columns.find((candidate) => candidate.key === sort.key);
    const sortKey = column?.sortValue ?? ((row: Row) => cellOf(row, sort.key) as string | number | null);
    const ordered = [...rows].sort((a, b) => compare(sortKey(a), sortKey(b)));
    return sort.direction === 'desc' ? ordered.reverse() : ordered;
  }, [rows, sort, columns]);

  const sortBy = (key: string) =>
    setSort((current) =>
      current?.key === key
        ? { key, direction: current.direction === 'asc' ? 'desc' : 'asc' }
        : { key, direction: columns.find((c) => c.key === key)?.numeric ? 'desc' : 'asc' },
    );

  return (
    <div class="table-wrap">
      <table data-testid={testId}>
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr>
            {columns.map((column) => (
              <th
                key={column.key}
                scope="col"
                class={column.numeric ? 'numeric' : undefined}
                tabIndex={0}
                aria-sort={
                  sort?.key === column.key ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none'
                }
                onClick={() => sortBy(column.key)}
                onKeyDown={(event) => {
                  if (event.key === 'Enter' || event.key === ' ') {
                    event.preventDefault();
                    sortBy(column.key);
                  }
                }}
              >
                {column.label}
                <span class="sort-mark" aria-hidden="true">
                  {sort?.key === column.key ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : ''}
                </span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((row, index) => (
            <tr
              key={rowKey ? rowKey(row, index) : index}
              tabIndex={0}
              class={onOpen ? 'openable' : undefined}
              onClick={onOpen ? () => onOpen(row) : undefined}
              onKeyDown={(event) => {
                if (onOpen && event.key === 'Enter') onOpen(row);
              }}
            >
              {columns.map((column) => {
                const value = cellOf(row, column.key);
                let content: ComponentChildren;
                if (column.render) content = column.render(row);
                else if (column.kpi && (typeof value === 'number' || value === null || value === undefined))
                  content = <KpiValue name={column.kpi} value={value as number | null} unit={column.unit} />;
                else if (column.numeric && typeof value === 'number')
                  content = formatValue(value, column.unit);
                else content = value === null || value === undefined || value === '' ? '—' : String(value);
                return (
                  <td key={column.key} class={column.numeric ? 'numeric' : undefined}>
                    {content}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
