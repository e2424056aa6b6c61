import type { TSchema } from '@sinclair/typebox';
import { QUERY_UID_LENGTH } from '../../src/ua/event-kinds.ts';
import {
  COLUMN_PARAMETERS,
  CollectEventSchema,
  VALUE_PARAMETERS,
} from '../../src/ua/measurement-protocol.ts';
import {
  ClickEventSchema,
  CustomEventSchema,
  commonEventFields,
  SearchEventSchema,
  ViewEventSchema,
} from '../../src/ua/schemas.ts';
import { codes, table } from './markdown.ts';
import { RuleWriter, type Schema } from './schema-rules.ts';

/**
 * The field tables of docs/api/ua-write.md, from the schemas that check the events. The limits,
 * required fields, formats, patterns, ranges and enums are the schemas'; the rows' order and grouping, and
 * what a schema cannot say, are below (links in the notes are relative to docs/api/). A field of a schema
 * that no row names, or a row naming no field of it, throws.
 */

const asSchema = (schema: TSchema) => schema as unknown as Schema;

const FORMATS = {
  // Said once, above the tables: no control characters. Strings without it are said to be free text.
  printable: '',
  uuid: 'a UUID',
  'date-time': 'an ISO 8601 date-time',
  language:
    'a BCP 47 tag whose primary subtag is an ISO 639-1 code (`en`, `en-US`, `pt-BR`, `zh-Hant-TW`; `_` is read as `-`)',
};
const PATTERNS = { '^[a-z0-9_]+$': 'lowercase letters, digits and `_`' };

/** Each property of `schema` in exactly one row, and each row's fields properties of it. */
function checkRows(name: string, properties: string[], rows: string[][], elsewhere: string[] = []): void {
  const named = rows.flat();
  const twice = named.filter((field, i) => named.indexOf(field) !== i);
  const unknown = named.filter((field) => !properties.includes(field));
  const missing = properties.filter((field) => !named.includes(field) && !elsewhere.includes(field));
  if (twice.length > 0) throw new Error(`${name}: rows name ${twice.join(', ')} twice`);
  if (unknown.length > 0) throw new Error(`${name}: rows name ${unknown.join(', ')}, which it does not have`);
  if (missing.length > 0) throw new Error(`${name}: no row for ${missing.join(', ')}`);
}

/** One rule for a row's fields, which must all have it. */
function sameRule(rules: string[], fields: string[]): string {
  const distinct = [...new Set(rules)];
  if (distinct.length !== 1)
    throw new Error(`${fields.join(', ')} share a row but not a rule: ${distinct.join(' / ')}`);
  return distinct[0] as string;
}

const ruleOf = (writer: RuleWriter, schema: Schema, field: string) =>
  writer.rule(schema.properties?.[field] as Schema, field, schema.required?.includes(field) ?? false);

/** `POST …/custom`: its own fields and the common ones. */
const CUSTOM_ROWS = [
  ['eventType', 'eventValue'],
  ['language'],
  ['originContext', 'originLevel1', 'originLevel2'],
  ['originLevel3'],
  ['splitTestRunName', 'splitTestRunVersion', 'username', 'userDisplayName'],
  ['outcome'],
  ['clientId'],
  ['trackingId'],
  ['lastSearchQueryUid'],
  ['userAgent'],
  ['anonymous'],
  ['customData'],
  ['eventId'],
  ['eventTime'],
];

const CUSTOM_NOTES = {
  language: '. Stored as the code (`language`: `pt`), the tag as sent beside it (`languageTag`: `pt-BR`)',
  originLevel3: " (the referrer; Coveo's limit, where the official client cuts it)",
  trackingId: " (OpenUA's bound)",
  lastSearchQueryUid:
    ` (OpenUA's bound), cut to ${QUERY_UID_LENGTH} as \`searchQueryUid\` is; \`""\`, which the official client ` +
    'sends before any search, counts as absent',
  userAgent: " (OpenUA's bound)",
  customData: '; see below',
  eventId:
    "; OpenUA's own: the idempotency key (see [Idempotency](batch-and-idempotency.md#idempotency-the-guarantee))",
  eventTime:
    "; OpenUA's own: when the event happened, by the client's clock (see [Times](batch-and-idempotency.md#times))",
};

export function customEventTable(): string {
  const schema = asSchema(CustomEventSchema);
  checkRows('CustomEventSchema', Object.keys(schema.properties ?? {}), CUSTOM_ROWS);
  const writer = new RuleWriter({ formats: FORMATS, patterns: PATTERNS, notes: CUSTOM_NOTES });
  const rows = CUSTOM_ROWS.map((fields) => [
    codes(fields),
    sameRule(
      fields.map((f) => ruleOf(writer, schema, f)),
      fields,
    ),
  ]);
  writer.checkNotesUsed('custom events');
  return table(['Field', 'Rule (lengths in characters)'], rows);
}

type Kind = 'search' | 'click' | 'view';
const KIND_SCHEMAS: Record<Kind, Schema> = {
  search: asSchema(SearchEventSchema),
  click: asSchema(ClickEventSchema),
  view: asSchema(ViewEventSchema),
};

/** Each kind's own fields: the common ones are the custom events' table, and the same on every kind. */
const KIND_ROWS: [Kind[], string[]][] = [
  [['search'], ['actionCause']],
  [['search'], ['queryText']],
  [['search'], ['responseTime']],
  [['search', 'click'], ['searchQueryUid']],
  [['search'], ['advancedQuery']],
  [['search'], ['numberOfResults']],
  [['search'], ['contextual']],
  [['search'], ['results']],
  [['search', 'click'], ['queryPipeline']],
  [['search'], ['indexId']],
  [['search'], ['userGroups']],
  [['search'], ['facetState']],
  [['click'], ['actionCause']],
  [['click'], ['documentPosition']],
  [['click'], ['sourceName']],
  [['click'], ['documentUri', 'documentUrl']],
  [['click'], ['documentUriHash', 'collectionName', 'documentCategory']],
  [['click'], ['documentTitle', 'documentAuthor']],
  [['click'], ['rankingModifier']],
  [['view'], ['location']],
  [['view'], ['referrer']],
  [['view'], ['title', 'contentIdValue']],
  [['view'], ['contentIdKey', 'contentType']],
];

const KIND_NOTES = {
  queryText: '; may be empty (a search without terms, as when a page loads)',
  responseTime: ' (milliseconds)',
  searchQueryUid:
    `, **cut to ${QUERY_UID_LENGTH}** (Coveo's truncation); \`lastSearchQueryUid\` is cut the same way, so long ` +
    'uids still join',
  results: ', stored whole',
  userGroups: "; a search token's `userGroups` are added (without repeats)",
  facetState: ', stored whole',
  'facetState.state': " (the official client's own type has `idle`)",
  documentPosition: ', counted across pages (3rd result of page 2 at 10 a page is 13)',
  location: ' (the page URL)',
  referrer: ' (older; `originLevel3` is the modern field, and both are kept)',
};

export function kindsTable(): string {
  const common = Object.keys(commonEventFields);
  const commonSchema = asSchema(CustomEventSchema);
  for (const [kind, schema] of Object.entries(KIND_SCHEMAS)) {
    const properties = Object.keys(schema.properties ?? {});
    const own = properties.filter((field) => !common.includes(field));
    checkRows(
      kind,
      own,
      KIND_ROWS.filter(([kinds]) => kinds.includes(kind as Kind)).map(([, fields]) => fields),
    );
    // The table's introduction says the common fields have the same rules on every kind.
    for (const field of common) {
      const same =
        JSON.stringify(schema.properties?.[field]) === JSON.stringify(commonSchema.properties?.[field]) &&
        schema.required?.includes(field) === commonSchema.required?.includes(field);
      if (!same) throw new Error(`${kind}: the common field ${field} has a rule of its own`);
    }
  }
  const writer = new RuleWriter({ formats: FORMATS, patterns: PATTERNS, notes: KIND_NOTES });
  const rows = KIND_ROWS.map(([kinds, fields]) => [
    kinds.join(', '),
    codes(fields),
    sameRule(
      kinds.flatMap((kind) => fields.map((f) => ruleOf(writer, KIND_SCHEMAS[kind], f))),
      fields,
    ),
  ]);
  writer.checkNotesUsed('search, click and view');
  return table(['Kind', 'Field', 'Rule'], rows);
}

/** `POST …/collect`: the parameters with a column. `t` is the hit type, stored as the event's type. */
const COLLECT_ROWS = [
  ['t'],
  ['cid'],
  ['uid'],
  ['ul'],
  ['ua'],
  ['dl', 'dr', 'dt'],
  ['contentIdKey', 'contentId', 'contentType'],
  ['searchHub', 'tab'],
  ['searchUid'],
  ['trackingId'],
  ['tm'],
  ['z'],
  [...VALUE_PARAMETERS],
];
/** Said in the text around the table: its keys are customData. */
const COLLECT_IN_TEXT = ['custom'];

const columnOf = (parameter: string): string | undefined =>
  parameter === 't'
    ? 'eventType'
    : (VALUE_PARAMETERS as readonly string[]).includes(parameter)
      ? 'eventValue'
      : COLUMN_PARAMETERS[parameter as keyof typeof COLUMN_PARAMETERS];

/** Where "stored as" needs more than the column's name. */
const STORED_AS: Record<string, (column: string) => string> = {
  cid: (column) => `the visitor (${column})`,
  ul: (column) => `${column}, \`languageTag\``,
  ...Object.fromEntries(
    VALUE_PARAMETERS.map((p) => [
      p,
      (column: string) => `${column}, the first of them given (and customData, under its own name)`,
    ]),
  ),
};

const COLLECT_NOTES = {
  t: ' (the hit type: `pageview`, `event`, …)',
  uid: '; as `username`: needs `analytics:impersonate`, except `anonymous`, which the official client adds for API keys',
  searchUid: `, cut to ${QUERY_UID_LENGTH}`,
  tm: '; Unix milliseconds (before 2100-01-01)',
  z: "; the hit's id, which the official client draws for each hit: its idempotency key",
  ul: "; the official client always sends it (its ec and svc plugins add the browser's language to every hit)",
};

export function collectTable(): string {
  const schema = asSchema(CollectEventSchema);
  checkRows('CollectEventSchema', Object.keys(schema.properties ?? {}), COLLECT_ROWS, COLLECT_IN_TEXT);
  const unstored = Object.keys(COLUMN_PARAMETERS).filter((p) => !COLLECT_ROWS.flat().includes(p));
  if (unstored.length > 0)
    throw new Error(`collect: no row for the column parameters ${unstored.join(', ')}`);
  const writer = new RuleWriter({
    formats: { ...FORMATS, language: 'a language tag, as `language` above' },
    patterns: PATTERNS,
    notes: COLLECT_NOTES,
  });
  const rows = COLLECT_ROWS.map((parameters) => {
    const stored = parameters.map((p) => {
      const name = columnOf(p);
      if (name === undefined) throw new Error(`collect: ${p} has no column (COLUMN_PARAMETERS)`);
      const column = `\`${name}\``;
      const said = STORED_AS[p]?.(column) ?? column;
      if (!said.includes(column)) throw new Error(`collect: ${p} is stored as ${column}, not "${said}"`);
      return said;
    });
    // Parameters in one row may differ: their rules are then listed in the same order.
    const rules = parameters.map((p) => ruleOf(writer, schema, p));
    const distinct = [...new Set(rules)];
    const storedAs = [...new Set(stored)];
    return [codes(parameters), storedAs.join(', '), (distinct.length === 1 ? distinct : rules).join(', ')];
  });
  writer.checkNotesUsed('collect');
  return table(['Parameter', 'Stored as', 'Rule'], rows);
}
