import { Type } from '@sinclair/typebox';
import type { Violation } from '../core/errors.ts';
import type { AggregateQuery } from '../storage/storage.ts';
import type { Refusal } from './shape-refusals.ts';

/**
 * A query's outputs: the columns of its answer (the time bucket, the dimensions, the measures), the names a spec
 * gives them, and the order of the rows over them.
 */

/** The name of the time bucket in answers. */
export const TIME = 'time';

/**
 * The names a spec gives its outputs (`as`): ASCII letters, digits, `_` and `-`, the first a letter or `_`,
 * at most 64. An output name is a key of the answer's rows, a CSV header and a quoted identifier in the
 * engines' SQL; a dot is left out, as the answer's own names use it (`previous.<measure>`, `customData.<key>`).
 */
export const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export const OutputNameSchema = Type.String({
  pattern: OUTPUT_NAME.source,
  description:
    "The output's name in the answer (1–64 ASCII letters, digits, _ and -, the first a letter or _)",
});

/** The refusal of an `as` that is not an output name, whatever it is instead (a number, a dotted name…). */
export const OUTPUT_NAME_REFUSAL: Refusal = {
  rule: 'pattern',
  limit: OUTPUT_NAME.source,
  message: 'must be a name of 1 to 64 characters: ASCII letters, digits, _ and -, the first a letter or _',
};

export interface OrderAsked {
  field: string;
  direction?: 'asc' | 'desc';
}

/**
 * The order of the answer's rows: the order asked, each field an output of the query, else time then the
 * first measure (largest first); then every dimension not named yet, so that rows that tie come in the same
 * order every time.
 */
export function resolveOrder(
  asked: readonly OrderAsked[],
  outputs: { bucketed: boolean; dimensions: AggregateQuery['dimensions']; measureNames: string[] },
  violations: Violation[],
): AggregateQuery['orderBy'] {
  const { bucketed, dimensions, measureNames } = outputs;
  const names = new Set([...(bucketed ? [TIME] : []), ...dimensions.map((d) => d.name), ...measureNames]);
  const order = asked.flatMap((o, i) => {
    if (names.has(o.field)) return [{ name: o.field, descending: o.direction === 'desc' }];
    violations.push({
      field: `orderBy[${i}].field`,
      rule: 'output',
      limit: [...names],
      message: 'must name a dimension or a measure of the query',
      received: o.field,
    });
    return [];
  });
  if (asked.length === 0) {
    if (bucketed) order.push({ name: TIME, descending: false });
    if (measureNames[0] !== undefined) order.push({ name: measureNames[0], descending: true });
  }
  for (const { name } of dimensions) {
    if (!order.some((o) => o.name === name)) order.push({ name, descending: false });
  }
  return order;
}
