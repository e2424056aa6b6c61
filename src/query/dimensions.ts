import { type Static, Type } from '@sinclair/typebox';
import { conflict, echo, invalid, notFound, type Violation } from '../core/errors.ts';
import { compileCheck, oneOf, printable } from '../core/validation.ts';
import type { EventCategory } from '../model/canonical-event.ts';
import { CUSTOM_DATA_KEY, normaliseKey } from '../model/custom-data.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';

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
  /**
   * The type as declared through Coveo's dimension API (`TEXT`, `SHORT`, `DATETIME`…), which that API answers
   * back; null for a dimension declared here. `type` is what queries read it as.
   */
  coveoType: string | null;
}

/** What a caller that has already checked its input declares: the normalised key and the rest. */
export type DimensionSpec = Omit<Dimension, 'org' | 'createdAt'>;

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
    // Added after 0.1: a store made before has it null (a dimension declared here).
    coveoType: 'text',
  },
};

/** `POST /api/v1/dimensions`: checked by `create`, which lists its name's key rule with the schema's violations. */
export const DimensionInput = Type.Object(
  {
    name: printable({
      minLength: 1,
      maxLength: 128,
      description: 'The customData key; stored normalised (`Wait Seconds` → wait_seconds)',
    }),
    displayName: Type.Optional(printable({ minLength: 1, maxLength: 256 })),
    type: oneOf(DIMENSION_TYPES),
    eventKinds: Type.Optional(
      Type.Array(oneOf(EVENT_KINDS), {
        uniqueItems: true,
        description: 'The event categories it applies to; all of them when empty or left out',
      }),
    ),
  },
  { additionalProperties: false },
);
const checkInput = compileCheck(DimensionInput);

/** The view of a dimension the API answers: its `field` is how a query names it. */
export const publicDimension = ({ org: _, coveoType: __, ...dimension }: Dimension) => ({
  ...dimension,
  field: `customData.${dimension.name}`,
});

export const PublicDimensionSchema = Type.Object({
  name: Type.String({ description: 'The normalised customData key' }),
  displayName: Type.String(),
  type: oneOf(DIMENSION_TYPES),
  eventKinds: Type.Array(Type.String(), {
    description: 'The event categories it applies to; all when empty',
  }),
  createdAt: Type.String({ format: 'date-time' }),
  field: Type.String({ description: 'How a query names it: customData.<name>' }),
});

/**
 * A dimension's name as a normalised customData key, or the violation that keeps it from being one
 * (`field` names where the caller received it).
 */
export function dimensionKey(raw: string, field: string): { key: string; violations: Violation[] } {
  const key = normaliseKey(raw);
  if (CUSTOM_DATA_KEY.test(key)) return { key, violations: [] };
  return {
    key,
    violations: [
      {
        field,
        rule: 'keyCharacters',
        limit: CUSTOM_DATA_KEY.source,
        message:
          'a dimension is a customData key: ASCII letters, digits, "_" and whitespace (which becomes "_")',
        received: echo(raw),
      },
    ],
  };
}

export class Dimensions {
  constructor(private readonly storage: Storage) {}

  async create(org: string, body: unknown): Promise<Dimension> {
    const violations = checkInput(body);
    const input = body as Static<typeof DimensionInput>;
    const { key: name, violations: keyViolations } =
      typeof input?.name === 'string' ? dimensionKey(input.name, 'name') : { key: '', violations: [] };
    violations.push(...keyViolations);
    if (violations.length > 0) throw invalid(violations);
    const spec: DimensionSpec = {
      name,
      displayName: input.displayName ?? input.name,
      type: input.type,
      eventKinds: input.eventKinds ?? [],
      coveoType: null,
    };
    return (await this.save(org, spec, 'create')).dimension;
  }

  /**
   * Declares a dimension from input its caller has already checked (Coveo's dimension API): `create` refuses
   * one that exists (409), `replace` creates it or replaces it, keeping when it was first created.
   */
  async save(
    org: string,
    spec: DimensionSpec,
    mode: 'create' | 'replace',
  ): Promise<{ dimension: Dimension; created: boolean }> {
    const existing = await this.get(org, spec.name);
    if (existing && mode === 'create') {
      throw conflict(`The dimension ${JSON.stringify(spec.name)} exists already`);
    }
    const dimension: Dimension = { org, ...spec, createdAt: existing?.createdAt ?? new Date() };
    await this.storage.upsert(DIMENSIONS, dimension);
    return { dimension, created: !existing };
  }

  list(org: string): Promise<Dimension[]> {
    return this.storage.find(DIMENSIONS, { org });
  }

  /** One dimension by its name (normalised like a customData key), if it is declared. */
  async get(org: string, name: string): Promise<Dimension | undefined> {
    return (await this.storage.find(DIMENSIONS, { org, name: normaliseKey(name) }))[0];
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
