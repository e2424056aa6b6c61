import { type Static, Type } from '@sinclair/typebox';
import type { EventCategory } from '../ingest/canonical-event.ts';
import { conflict, invalid, notFound } from '../server/errors.ts';
import { compileCheck, oneOf } from '../server/validation.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import { CUSTOM_DATA_KEY, normaliseKey } from '../ua/custom-data.ts';

/**
 * Custom dimensions: a customData key declared with a type, so the query API can sum, average and rank it
 * as a number, or treat it as a boolean. Declaring one changes no stored data: values logged before it was
 * declared are read through it as soon as it exists.
 */
export type DimensionType = 'text' | 'number' | 'boolean';
export const DIMENSION_TYPES = ['text', 'number', 'boolean'] as const;
const EVENT_KINDS: readonly EventCategory[] = [
  'custom',
  'search',
  'click',
  'view',
  'collect',
  'kpi',
] as const;

export interface Dimension {
  org: string;
  /** The normalised customData key (`"Wait Seconds"` → `wait_seconds`). */
  name: string;
  displayName: string;
  type: DimensionType;
  /** The event categories it applies to; all of them when empty. */
  eventKinds: string[];
  createdAt: Date;
}

export const DIMENSIONS: EntityTable<Dimension> = {
  name: 'dimensions',
  key: ['org', 'name'],
  columns: {
    org: 'text',
    name: 'text',
    displayName: 'text',
    type: 'text',
    eventKinds: 'text[]',
    createdAt: 'timestamp',
  },
};

const DimensionInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    type: oneOf(DIMENSION_TYPES),
    eventKinds: Type.Optional(Type.Array(oneOf(EVENT_KINDS), { uniqueItems: true })),
  },
  { additionalProperties: false },
);
const checkInput = compileCheck(DimensionInput);

/** The view of a dimension the API answers: its `field` is how a query names it. */
export const publicDimension = ({ org: _, ...dimension }: Dimension) => ({
  ...dimension,
  field: `customData.${dimension.name}`,
});

export class Dimensions {
  constructor(private readonly storage: Storage) {}

  async create(org: string, body: unknown): Promise<Dimension> {
    const violations = checkInput(body);
    const input = body as Static<typeof DimensionInput>;
    const name = typeof input?.name === 'string' ? normaliseKey(input.name) : '';
    if (typeof input?.name === 'string' && !CUSTOM_DATA_KEY.test(name)) {
      violations.push({
        field: 'name',
        rule: 'keyCharacters',
        limit: CUSTOM_DATA_KEY.source,
        message:
          'a dimension is a customData key: ASCII letters, digits, "_" and whitespace (which becomes "_")',
        received: input.name,
      });
    }
    if (violations.length > 0) throw invalid(violations);
    if ((await this.storage.find(DIMENSIONS, { org, name })).length > 0) {
      throw conflict(`The dimension ${JSON.stringify(name)} exists already`);
    }
    const dimension: Dimension = {
      org,
      name,
      displayName: input.displayName ?? input.name,
      type: input.type,
      eventKinds: input.eventKinds ?? [],
      createdAt: new Date(),
    };
    await this.storage.upsert(DIMENSIONS, dimension);
    return dimension;
  }

  list(org: string): Promise<Dimension[]> {
    return this.storage.find(DIMENSIONS, { org });
  }

  /** The organization's dimensions by name, for a query to type its customData keys. */
  async byName(org: string): Promise<Map<string, Dimension>> {
    return new Map((await this.list(org)).map((d) => [d.name, d]));
  }

  async remove(org: string, name: string): Promise<void> {
    if ((await this.storage.remove(DIMENSIONS, { org, name: normaliseKey(name) })) === 0) {
      throw notFound(`No dimension ${JSON.stringify(name)}`);
    }
  }
}
