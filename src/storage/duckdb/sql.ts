import type { Comparison } from '../storage.ts';

/** SQL text shared by the DuckDB modules: names as identifiers, and comparisons. */

export const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** The column that holds an entity's field (`keyId` → `key_id`), unquoted. */
export const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const COMPARISONS = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/** `expr op value` for a value that is not null; `ne` keeps the rows where `expr` is null. */
export function compare(expr: string, op: Comparison, value: string): string {
  if (op === 'ne') return `(${expr} <> ${value} OR ${expr} IS NULL)`;
  return `${expr} ${COMPARISONS[op]} ${value}`;
}
