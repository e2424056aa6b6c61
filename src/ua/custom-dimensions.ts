import { type Static, Type } from '@sinclair/typebox';
import { echo, invalid, type Violation } from '../core/errors.ts';
import { compileCheck, oneOf, printable } from '../core/validation.ts';
import type { EventCategory } from '../model/canonical-event.ts';
import { type Dimension, type DimensionSpec, type DimensionType, dimensionKey } from '../query/dimensions.ts';

/**
 * Coveo's custom dimension API (`/rest/ua/v15/dimensions/custom`) as a view of OpenUA's one dimension registry
 * (src/query/dimensions.ts): Coveo's request turned into the registry's declaration, and a registry dimension
 * turned into Coveo's dimension model. Pure; the routes are in dimension-routes.ts.
 *
 * Coveo names a dimension `c_<key>` where OpenUA's registry names it by the customData key itself, so the
 * same dimension is `c_wait_seconds` here, `wait_seconds` in /api/v1/dimensions and `customData.wait_seconds`
 * in a query.
 */

/** Coveo's dimension types (platform-client's `DimensionType`). */
export const COVEO_DIMENSION_TYPES = ['TEXT', 'NUMBER', 'SHORT', 'BOOLEAN', 'DATE', 'DATETIME'] as const;
export type CoveoDimensionType = (typeof COVEO_DIMENSION_TYPES)[number];

/**
 * What the query API reads each Coveo type as. Dates stay text: Coveo takes epoch numbers and date strings
 * alike for them, and the query API has no date type for a customData key, so text loses nothing.
 */
export const REGISTRY_TYPE: Readonly<Record<CoveoDimensionType, DimensionType>> = {
  TEXT: 'text',
  NUMBER: 'number',
  SHORT: 'number',
  BOOLEAN: 'boolean',
  DATE: 'text',
  DATETIME: 'text',
};

/** The Coveo type a dimension declared through /api/v1/dimensions is answered with. */
const COVEO_TYPE: Readonly<Record<DimensionType, CoveoDimensionType>> = {
  text: 'TEXT',
  number: 'NUMBER',
  boolean: 'BOOLEAN',
};

/** Coveo's event types for a dimension (platform-client's `DimensionEventTypes`), and the event kinds they are. */
export const COVEO_EVENT_TYPES = ['searches', 'clicks', 'custom_events'] as const;
export type CoveoEventType = (typeof COVEO_EVENT_TYPES)[number];
const EVENT_KIND: Readonly<Record<CoveoEventType, EventCategory>> = {
  searches: 'search',
  clicks: 'click',
  custom_events: 'custom',
};

/** The prefix of a custom dimension's Coveo name. */
export const CUSTOM_PREFIX = 'c_';

/** Coveo: an API name has fewer than 255 characters; a display name fewer than 1,000. */
const NAME_MAX = 254;
const DISPLAY_NAME_MAX = 999;

/**
 * The query string of every dimension route, once `event` is a list (`withEventList`). Parameters Coveo's clients
 * send that OpenUA does not need (`org`, which the credential decides) pass. (`access_token`, which Coveo takes
 * here too, is refused by the auth hook before: only the Write API's routes read it.)
 */
export const DimensionQuery = Type.Object(
  {
    name: Type.Optional(
      printable({
        minLength: 1,
        maxLength: NAME_MAX,
        description: 'The dimension a declaration names: its customData key, with or without `c_`',
      }),
    ),
    event: Type.Optional(
      Type.Array(oneOf(COVEO_EVENT_TYPES), {
        description:
          'The events the dimension applies to (repeat it for several); all of them when not given',
      }),
    ),
    updatePastEvents: Type.Optional(
      oneOf(['true', 'false'], {
        description: 'Changes nothing: a dimension is read at query time, past events included',
      }),
    ),
    includeOnlyParents: Type.Optional(oneOf(['true', 'false'])),
  },
  { additionalProperties: true },
);
type DimensionQueryInput = Static<typeof DimensionQuery>;
const checkQuery = compileCheck(DimensionQuery);

/**
 * Coveo's `CustomDimensionModel`. `path` is the dimension's place in customData: Coveo's semi-structured
 * dimensions read a path of several steps into a JSON value; OpenUA's read one key, so it has one step (a
 * string is taken as that step). Other fields (those of a dimension read back and sent again) are ignored.
 */
export const CustomDimensionBody = Type.Object(
  {
    type: oneOf(COVEO_DIMENSION_TYPES),
    displayName: printable({ minLength: 1, maxLength: DISPLAY_NAME_MAX }),
    path: Type.Optional(
      Type.Array(printable({ minLength: 1, maxLength: NAME_MAX }), {
        minItems: 1,
        maxItems: 1,
        description:
          'The customData key the dimension is named after, as its one step (a string is that step)',
      }),
    ),
  },
  { additionalProperties: true },
);
const checkBody = compileCheck(CustomDimensionBody);

/** `event` as a list, whether it came once (a string), repeated (a list) or not at all. */
export function withEventList(raw: unknown): Record<string, unknown> {
  const query = { ...(raw as Record<string, unknown>) };
  if (typeof query.event === 'string') query.event = [query.event];
  return query;
}

/** The `{dimension}` path parameter: its rules are keyOfApiName's. */
export const DimensionParams = Type.Object({
  dimension: Type.String({ description: '`c_<key>`, or `<event>.c_<key>` (`custom_events.c_wait_seconds`)' }),
});

/** A `path` sent as one string, as the step it is. */
function bodyOf(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const body = raw as Record<string, unknown>;
  return typeof body.path === 'string' ? { ...body, path: [body.path] } : body;
}

/** `c_<key>`, or Coveo's `<event>.c_<key>` form of the same name, as the key it names. */
const API_NAME = new RegExp(`^(?:(${COVEO_EVENT_TYPES.join('|')})\\.)?${CUSTOM_PREFIX}(.+)$`, 'i');

/**
 * The registry key a `{dimension}` path parameter names: `c_<key>`, or `<event>.c_<key>` (Coveo's
 * `EVENT.DIMENSION` form, whose event part names no more than the dimension itself here).
 */
export function keyOfApiName(apiName: string): string {
  const match = API_NAME.exec(apiName);
  const { key, violations } =
    match?.[2] !== undefined
      ? dimensionKey(match[2], 'dimension')
      : {
          key: '',
          violations: [
            {
              field: 'dimension',
              rule: 'pattern' as const,
              limit: API_NAME.source,
              message: `must be "${CUSTOM_PREFIX}" and a customData key (c_wait_seconds), or "<event>." and that`,
              received: echo(apiName),
            },
          ],
        };
  if (violations.length > 0) throw invalid(violations);
  return key;
}

/** The key `?name=` names: Coveo adds the `c_` prefix when it is missing, so both forms name one key. */
function keyOfName(name: string): { key: string; violations: Violation[] } {
  const folded = name.toLowerCase();
  const bare = folded.startsWith(CUSTOM_PREFIX) ? name.slice(CUSTOM_PREFIX.length) : name;
  if (bare.length === 0) {
    return {
      key: '',
      violations: [
        {
          field: 'name',
          rule: 'minLength',
          limit: 1,
          message: `needs a customData key after "${CUSTOM_PREFIX}"`,
          received: echo(name),
        },
      ],
    };
  }
  return dimensionKey(bare, 'name');
}

/** A declaration through Coveo's API, checked: the registry's fields, before any existing dimension is read. */
export interface CoveoDeclaration {
  key: string;
  displayName: string;
  coveoType: CoveoDimensionType;
  /** Registry event kinds; undefined when `event` was not given. */
  eventKinds?: EventCategory[];
}

/**
 * `POST|PUT …/dimensions/custom?name=<key>&event=…` (or `PUT …/custom/{dimension}`, `fromPath` being its key):
 * every violation of the query string and the body at once.
 */
export function coveoDeclaration(rawQuery: unknown, rawBody: unknown, fromPath?: string): CoveoDeclaration {
  const query = withEventList(rawQuery);
  const body = bodyOf(rawBody);
  const violations = [...checkQuery(query), ...checkBody(body)];
  const { name, event } = query as DimensionQueryInput;
  let key = fromPath;
  if (typeof name === 'string' && name.length > 0 && name.length <= NAME_MAX) {
    const named = keyOfName(name);
    violations.push(...named.violations);
    if (named.violations.length > 0) key = undefined;
    else if (fromPath === undefined) key = named.key;
    else if (named.key !== fromPath) {
      violations.push({
        field: 'name',
        rule: 'matchesPath',
        limit: `${CUSTOM_PREFIX}${fromPath}`,
        message: 'names another dimension than the path does',
        received: echo(name),
      });
    }
  } else if (name === undefined && fromPath === undefined) {
    violations.push({ field: 'name', rule: 'required', message: 'is required (?name=<customData key>)' });
  }
  const input = body as { type: CoveoDimensionType; displayName: string; path?: unknown[] };
  const step = Array.isArray(input?.path) && input.path.length === 1 ? input.path[0] : undefined;
  if (typeof step === 'string' && key !== undefined && dimensionKey(step, 'path[0]').key !== key) {
    violations.push({
      field: 'path[0]',
      rule: 'matchesName',
      limit: key,
      message: `a dimension reads the customData key it is named after ("${key}")`,
      received: echo(step),
    });
  }
  if (violations.length > 0 || key === undefined) throw invalid(violations);
  return {
    key,
    displayName: input.displayName,
    coveoType: input.type,
    eventKinds: event && [...new Set(event.map((e) => EVENT_KIND[e]))],
  };
}

/**
 * The registry's declaration for it. Without `event`, a new dimension applies to every kind of event, and
 * one that exists keeps the kinds it has (Coveo's edit sends no `event`).
 */
export function registrySpec(declaration: CoveoDeclaration, existing?: Dimension): DimensionSpec {
  return {
    name: declaration.key,
    displayName: declaration.displayName,
    type: REGISTRY_TYPE[declaration.coveoType],
    eventKinds: declaration.eventKinds ?? existing?.eventKinds ?? [],
    coveoType: declaration.coveoType,
  };
}

/** The Coveo type of a registry dimension: the one declared through Coveo's API, if it still reads the same. */
function coveoTypeOf(dimension: Dimension): CoveoDimensionType {
  const declared = COVEO_DIMENSION_TYPES.find((t) => t === dimension.coveoType);
  return declared && REGISTRY_TYPE[declared] === dimension.type ? declared : COVEO_TYPE[dimension.type];
}

/** Coveo's event types of a registry dimension: all three when it applies to every kind. */
function eventTypesOf(dimension: Dimension): CoveoEventType[] {
  if (dimension.eventKinds.length === 0) return [...COVEO_EVENT_TYPES];
  return COVEO_EVENT_TYPES.filter((e) => dimension.eventKinds.includes(EVENT_KIND[e]));
}

/**
 * A dimension as Coveo's `DimensionModel` answers it, plus `name` and OpenUA's own `field` (how a query
 * names it) and `eventKinds` (the registry's kinds, which may hold some Coveo has no name for).
 */
export const CoveoDimensionSchema = Type.Object(
  {
    name: Type.String({ description: '`c_<key>`' }),
    returnName: Type.String(),
    apiNames: Type.Array(Type.String(), {
      description: 'The name, and `<event>.<name>` for each of its events',
    }),
    displayName: Type.String(),
    type: oneOf(COVEO_DIMENSION_TYPES),
    path: Type.Array(Type.String(), { description: 'The customData key it reads' }),
    eventTypes: Type.Array(oneOf(COVEO_EVENT_TYPES)),
    custom: Type.Literal(true),
    status: Type.Literal('AVAILABLE', { description: 'Declaring a dimension changes no stored data' }),
    field: Type.String({ description: 'How a query names it: `customData.<key>`' }),
    eventKinds: Type.Array(Type.String(), {
      description: 'The event kinds it applies to; all of them when empty',
    }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { description: "A custom dimension, as Coveo's DimensionModel" },
);

/** The answer before it is written as JSON, which writes its date as the schema says. */
type CoveoDimension = Omit<Static<typeof CoveoDimensionSchema>, 'createdAt'> & { createdAt: Date };

export function coveoDimension(dimension: Dimension): CoveoDimension {
  const name = `${CUSTOM_PREFIX}${dimension.name}`;
  const eventTypes = eventTypesOf(dimension);
  return {
    name,
    returnName: name,
    apiNames: [name, ...eventTypes.map((e) => `${e}.${name}`)],
    displayName: dimension.displayName,
    type: coveoTypeOf(dimension),
    path: [dimension.name],
    eventTypes,
    custom: true,
    // Declaring a dimension changes no stored data, so one is never being updated.
    status: 'AVAILABLE',
    field: `customData.${dimension.name}`,
    eventKinds: dimension.eventKinds,
    createdAt: dimension.createdAt,
  };
}
