import { EVENT_COLUMNS } from '../../src/storage/event-columns.ts';
import type { ColumnType } from '../../src/storage/storage.ts';
import { COVEO_DIMENSION_TYPES, REGISTRY_TYPE } from '../../src/ua/custom-dimensions.ts';
import { codes, table } from './markdown.ts';

/**
 * The tables of docs/api/dimensions.md: the event fields a query names, by type (the events table's columns,
 * EVENT_COLUMNS), and what the query API reads each of Coveo's dimension types as (REGISTRY_TYPE).
 */

/** What a query may do with a field of each type: group by it, and take the numeric measures of it. */
const BY_TYPE: Record<ColumnType, { name: string; dimension: boolean; numeric: boolean }> = {
  text: { name: 'text', dimension: true, numeric: false },
  integer: { name: 'integer', dimension: true, numeric: true },
  boolean: { name: 'boolean', dimension: true, numeric: false },
  timestamp: { name: 'time', dimension: true, numeric: false },
  'text[]': { name: 'list of text', dimension: false, numeric: false },
  json: { name: 'JSON', dimension: false, numeric: false },
};

export function eventFieldsTable(): string {
  const types = [...new Set(EVENT_COLUMNS.map((c) => c.type))];
  const unsaid = types.filter((type) => BY_TYPE[type] === undefined);
  if (unsaid.length > 0) throw new Error(`no words for the column types ${unsaid.join(', ')}`);
  return table(
    ['Type', 'Fields', 'A dimension', '`sum`, `avg`, `min`, `max`, `p50`, `p90`, `p99`'],
    types.map((type) => [
      BY_TYPE[type].name,
      codes(EVENT_COLUMNS.filter((c) => c.type === type).map((c) => c.field)),
      BY_TYPE[type].dimension ? 'yes' : 'no (rule `dimension`)',
      BY_TYPE[type].numeric ? 'yes' : 'no (rule `numeric`)',
    ]),
  );
}

export function coveoTypesTable(): string {
  const read = [...new Set(COVEO_DIMENSION_TYPES.map((type) => REGISTRY_TYPE[type]))];
  return table(
    ['Coveo `type`', 'Read by queries as'],
    read.map((as) => [
      codes(COVEO_DIMENSION_TYPES.filter((type) => REGISTRY_TYPE[type] === as)),
      `\`${as}\``,
    ]),
  );
}
