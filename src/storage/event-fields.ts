import { EVENT_COLUMNS } from './event-columns.ts';
import type { EventField } from './storage.ts';

/**
 * The events' fields (customData aside), for code above storage: which exist and what they hold, in a stable
 * order. How and where each engine keeps them (column names, their order in a table) is the engines' own.
 */
export const EVENT_FIELDS: ReadonlyMap<string, EventField> = new Map(
  EVENT_COLUMNS.map(({ field, type, nullable }) => [field, { field, type, nullable }]),
);
