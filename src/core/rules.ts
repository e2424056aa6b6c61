/**
 * Every rule a violation can name (`violations[].rule`), with what it means. A violation's `rule` is typed by this
 * registry, so a new rule cannot be answered before it is written down here; the OpenAPI document and
 * docs/api/errors.md list it from here.
 */
export const RULES = {
  // JSON Schema keywords, as Ajv reports them (core/validation.ts).
  required: 'A required field is missing.',
  type: 'The value is not of the type the field takes (`limit` names it).',
  minLength: 'A text is shorter than the field allows (`limit`); 1 means it must not be empty.',
  maxLength: 'A text is longer than the field allows (`limit`).',
  minimum: 'A number is below the field’s lowest value (`limit`).',
  maximum: 'A number is above the field’s highest value (`limit`).',
  minItems: 'A list holds fewer items than it must (`limit`).',
  maxItems: 'A list holds more items than it may (`limit`).',
  uniqueItems: 'A list repeats an item it must hold once.',
  format: 'A text is not in the field’s format (`limit` names it: uuid, date-time, printable, …).',
  pattern: 'A text does not match the field’s pattern (`limit`).',
  enum: 'A value is not one of the allowed values (`limit` lists them).',
  const: 'A value is not the one value the field allows.',
  anyOf: 'A value matches none of the shapes the field takes.',
  schema: 'A value breaks a schema rule not listed here (the message says which).',
  unknownField:
    'A field the body does not have (bodies are closed: a misspelt field is refused, not dropped).',

  // Bodies as bytes and JSON (core/json.ts, http/content-types.ts).
  json: 'The body, or a JSON field of a form body, is not valid JSON (or is empty).',
  utf8: 'The body is not valid UTF-8.',
  depth: 'Objects, lists or filters nest deeper than allowed (`limit`).',
  maxDepth: 'A customData value nests too deeply to be stored as JSON text.',
  nul: 'A text holds U+0000 (NUL), which no text may hold.',
  unicode: 'A text holds a lone surrogate, which is not a Unicode character.',

  // Credentials and organizations (auth/, orgs/, http/auth-hook.ts).
  authorizationHeader:
    'The credential must come as `Authorization: Bearer`; `access_token` is for beacons (UA routes, batches) only.',
  credentialOrganization: 'The organization named must be the credential’s own.',
  privilege: 'The credential lacks the privilege the route or field needs.',
  masterKey: 'Only the master key may do this (create organizations, …).',
  signature: 'A search token is not signed by a known organization.',
  expired: 'A search token has expired (`limit` is the server’s clock).',
  algorithm: 'A search token is signed with an algorithm OpenUA does not take (HS256 only).',
  claims: 'A search token lacks a claim it needs, or holds one of the wrong type.',
  organization: 'A search token has no `organization` claim naming its organization.',
  origin: 'An allowed origin is not a scheme, host and optional port.',
  url: 'A URL is not one OpenUA can call (scheme, host, resolvable address).',

  // Events (model/, ua/, channel/, batch/).
  maxEventAge: 'The event’s time is older than the organization’s `maxEventAgeDays`.',
  maxEventFuture: 'The event’s time is further ahead than the organization’s `maxEventFutureMinutes`.',
  customDataKey: 'A customData key is empty or not a key the query can read once normalised.',
  keyCharacters: 'A customData key holds characters Coveo’s key rule refuses.',
  uniqueKey: 'Two keys or attributes normalise to the same name.',
  idempotencyKey: 'An event’s id differs from its Idempotency-Key header: an event has one key.',
  sameAs: 'Two fields that name the same thing hold different values.',
  analyticsEnabled: 'The provider’s analytics switch is off, or the provider is unknown.',
  reference: 'A record refers to another that does not exist in this organization.',
  kpiEventDefinition: 'A KPI event names no active KPI event definition of this organization.',
  firstPartyOnly: 'The field may be set on first-party KPI event definitions only, or not on them.',
  readOnly: 'The field is set by the server, or fixed on a first-party definition.',
  immutable: 'The field identifies the record and cannot change.',

  // OData (channel/odata-*.ts).
  attribute: 'A name is not an attribute of the entity set (or not a sortable one).',
  collection: 'The method addresses the entity set itself, not one record.',
  key: 'The method addresses one record, by its key in parentheses.',
  filter: 'A `$filter` cannot be applied.',
  syntax: 'A query option does not parse.',
  supported: 'A query option OpenUA does not support.',
  single: 'A query option given more than once.',
  operators: 'A `$filter` chains more and/or operators than allowed (`limit`).',
  range: 'A number is outside the range the option or parameter takes.',

  // The query API, dimensions and alerts (query/, ua/custom-dimensions.ts, alerts/).
  field: 'A name is neither an event field nor `customData.<key>`.',
  dimension: 'A value cannot be grouped by (a list or an object).',
  kpiDimension: 'A KPI measure cannot be grouped by this dimension.',
  measure: 'A measure is not a named measure, a KPI, `{fn, field}` or `{kpi, …}`.',
  numeric:
    'The function needs a number: an integer field, or a customData key declared as a number dimension.',
  output: 'An output must name a dimension or a measure of the query.',
  unique: 'Two outputs, or two records, have the same name.',
  timeZone: 'A time zone is not an IANA time zone (Europe/Paris, UTC, …).',
  matchesName: 'A dimension reads the customData key it is named after.',
  matchesPath: 'A body names another dimension than the path does.',
  volumeMeasure: 'An anomaly rule watches a volume measure.',
  anomalyOnly: 'The field belongs to anomaly rules only.',
  anomalyWindow: 'An anomaly rule’s window and history cannot give a baseline.',
  notForAnomaly: 'The field does not apply to anomaly rules.',

  // A person's erasure and export (privacy/).
  oneIdentifier: 'A request about a person names exactly one identifier (`limit` lists the kinds).',
} as const satisfies Record<string, string>;

export type RuleName = keyof typeof RULES;

/** Ajv's keyword as the registry's rule; a keyword the registry does not list is `schema`. */
export function ruleOfKeyword(keyword: string): RuleName {
  return Object.hasOwn(RULES, keyword) ? (keyword as RuleName) : 'schema';
}
