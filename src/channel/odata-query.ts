import { defaultParser } from '@odata/parser';
import { Type } from '@sinclair/typebox';
import { echo, invalid, type Violation } from '../core/errors.ts';
import type { Comparison, RecordFilter, RecordQuery, Scalar, TextMatch } from '../storage/storage.ts';
import { type Attribute, attributeNamed, type EntitySet } from './entity-sets.ts';
import { naturalId } from './natural-ids.ts';

/**
 * OData system query options (reference §7) over one entity set, as a storage-neutral query: `$filter` is
 * parsed by @odata/parser and checked against the set's attributes, so only known attributes and literals
 * of the right type reach the store, which binds every literal as a parameter.
 */

/** Dataverse's largest page; a collection read without `$top` answers at most this many, with a next link. */
export const MAX_PAGE = 5000;

export interface ODataQuery {
  query: RecordQuery;
  select?: string[];
  /** The page size asked for with `$top`, or undefined for server-driven paging. */
  top?: number;
}

interface Node {
  type: string;
  value?: unknown;
  raw?: string;
  position?: number;
}

const COMPARISONS: Record<string, Comparison> = {
  EqualsExpression: 'eq',
  NotEqualsExpression: 'ne',
  GreaterThanExpression: 'gt',
  GreaterOrEqualsExpression: 'ge',
  LesserThanExpression: 'lt',
  LesserOrEqualsExpression: 'le',
};
/** `3 lt x` is `x gt 3`. */
const FLIPPED: Record<Comparison, Comparison> = {
  eq: 'eq',
  ne: 'ne',
  gt: 'lt',
  ge: 'le',
  lt: 'gt',
  le: 'ge',
};
const MATCHES: readonly TextMatch[] = ['contains', 'startswith', 'endswith'];

const INTEGER_LITERALS = new Set(['Edm.SByte', 'Edm.Byte', 'Edm.Int16', 'Edm.Int32', 'Edm.Int64']);

class FilterError extends Error {}

/** The attribute a property path names, when it is a plain property of the set. */
function propertyOf(node: Node, set: EntitySet): Attribute | undefined {
  if (node.type === 'MethodCallExpression') {
    const { method } = node.value as { method: string };
    throw new FilterError(
      `${method}() is not supported in a comparison; compare an attribute with a literal`,
    );
  }
  let current: Node | undefined = node;
  while (current && current.type !== 'ODataIdentifier') {
    if (!['FirstMemberExpression', 'MemberExpression', 'PropertyPathExpression'].includes(current.type))
      return;
    current = current.value as Node;
  }
  const name = (current?.value as { name?: string } | undefined)?.name;
  if (name === undefined) return;
  const attribute = attributeNamed(set, name);
  if (!attribute) throw new FilterError(`${set.set} has no attribute ${JSON.stringify(name)}`);
  if (attribute.kind === 'customData' || attribute.slot) {
    throw new FilterError(`${name} cannot be filtered on; filter on a stored attribute`);
  }
  return attribute;
}

/** A literal as a value of the attribute's kind, or a clear reason why it is not one. */
function literalFor(node: Node, attribute: Attribute): Scalar {
  if (node.type !== 'Literal') throw new FilterError(`compare ${attribute.name} with a literal value`);
  const edm = String(node.value);
  const raw = node.raw ?? '';
  if (edm === 'null') return null;
  const wrong = () =>
    new FilterError(`${attribute.name} holds ${attribute.kind} values; ${raw} (${edm}) is not one`);
  switch (attribute.kind) {
    case 'text':
      if (edm === 'Edm.String') return raw.slice(1, -1).replaceAll("''", "'");
      // GUIDs are written bare in OData; ids are text here.
      if (edm === 'Edm.Guid') return raw.toLowerCase();
      throw wrong();
    case 'boolean':
      if (edm === 'Edm.Boolean') return raw === 'true';
      throw wrong();
    case 'integer':
      if (INTEGER_LITERALS.has(edm)) return Number(raw);
      throw wrong();
    case 'datetime': {
      if (edm !== 'Edm.DateTimeOffset' && edm !== 'Edm.Date') throw wrong();
      const date = new Date(raw);
      if (Number.isNaN(date.getTime())) throw wrong();
      return date;
    }
    default:
      throw wrong();
  }
}

function toFilter(node: Node, set: EntitySet): RecordFilter {
  const pair = node.value as { left: Node; right: Node };
  switch (node.type) {
    case 'BoolParenExpression':
    case 'ParenExpression':
      return toFilter(node.value as Node, set);
    case 'AndExpression':
    case 'OrExpression': {
      const kind = node.type === 'AndExpression' ? 'and' : 'or';
      // A chain `a and b and c` parses as nested pairs; one n-ary node keeps the SQL shallow.
      const filters = [toFilter(pair.left, set), toFilter(pair.right, set)].flatMap((f) =>
        f.kind === kind ? f.filters : [f],
      );
      return { kind, filters };
    }
    case 'NotExpression':
      return { kind: 'not', filter: toFilter(node.value as Node, set) };
    case 'MethodCallExpression': {
      const { method, parameters } = node.value as { method: string; parameters: Node[] };
      if (!MATCHES.includes(method as TextMatch)) {
        throw new FilterError(`${method}() is not supported; use contains, startswith or endswith`);
      }
      const [target, literal] = parameters;
      const attribute = target && propertyOf(target, set);
      if (!attribute || !literal || attribute.kind !== 'text') {
        throw new FilterError(
          `${method}() takes a text attribute and a string, as in ${method}(msdyn_name,'abc')`,
        );
      }
      const value = literalFor(literal, attribute);
      if (typeof value !== 'string') throw new FilterError(`${method}() needs a string literal`);
      return { kind: 'match', op: method as TextMatch, field: attribute.field, value };
    }
    default: {
      const op = COMPARISONS[node.type];
      if (!op) throw new FilterError(`${node.type.replace(/Expression$/, '')} is not supported in $filter`);
      const left = propertyOf(pair.left, set);
      const right = left ? undefined : propertyOf(pair.right, set);
      const attribute = left ?? right;
      if (!attribute) throw new FilterError('each comparison needs one attribute and one literal');
      const value = literalFor(left ? pair.right : pair.left, attribute);
      return { kind: 'compare', op: left ? op : FLIPPED[op], field: attribute.field, value };
    }
  }
}

/** The deepest nesting of parentheses and `not` a `$filter` may have. */
export const MAX_FILTER_NESTING = 32;
/** The most `and` and `or` a `$filter` may chain. */
export const MAX_FILTER_OPERATORS = 100;

/**
 * Why a `$filter` is too complex to parse, read from its text before the parser (which recurses) sees it:
 * parentheses and `not` nested deeper than MAX_FILTER_NESTING, or more than MAX_FILTER_OPERATORS `and`/`or`.
 * String literals (`'it''s (not) here'`) are skipped. Each `not` counts as a level until its parenthesis
 * closes, so the count bounds the depth of the expression the parser would build, never less.
 */
function complexityViolation(text: string): Violation | undefined {
  const bare = text.replace(/'(?:[^']|'')*'?/g, "''");
  // Per open parenthesis, the `not`s met since it opened.
  const nots: number[] = [0];
  let nesting = 0;
  let deepest = 0;
  let operators = 0;
  for (const [token] of bare.matchAll(/[()]|\b(?:not|and|or)\b/g)) {
    if (token === '(') {
      nots.push(0);
      nesting++;
    } else if (token === ')') {
      if (nots.length > 1) nesting -= 1 + (nots.pop() as number);
    } else if (token === 'not') {
      nots[nots.length - 1] = (nots.at(-1) as number) + 1;
      nesting++;
    } else operators++;
    deepest = Math.max(deepest, nesting);
  }
  if (deepest > MAX_FILTER_NESTING) {
    return {
      field: '$filter',
      rule: 'depth',
      limit: MAX_FILTER_NESTING,
      message: `nests parentheses and not deeper than ${MAX_FILTER_NESTING} levels`,
      received: echo(text),
    };
  }
  if (operators > MAX_FILTER_OPERATORS) {
    return {
      field: '$filter',
      rule: 'operators',
      limit: MAX_FILTER_OPERATORS,
      message: `chains more than ${MAX_FILTER_OPERATORS} and/or`,
      received: echo(text),
    };
  }
  return undefined;
}

/** `$filter` as a record filter; a 400 naming `$filter` and the reason when it does not parse or fit the set. */
function parseFilter(text: string, set: EntitySet): RecordFilter {
  const tooComplex = complexityViolation(text);
  if (tooComplex) throw invalid([tooComplex]);
  let ast: Node;
  try {
    ast = defaultParser.filter(text) as unknown as Node;
  } catch (error) {
    throw invalid([
      {
        field: '$filter',
        rule: 'syntax',
        limit: 'OData v4 $filter',
        message: `does not parse: ${(error as Error).message}`,
        received: text,
      },
    ]);
  }
  try {
    return toFilter(ast, set);
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    throw invalid([{ field: '$filter', rule: 'filter', message: error.message, received: text }]);
  }
}

/** The furthest `$skip` reaches. */
const MAX_SKIP = 100_000_000;

/**
 * The system query options OpenUA takes, as the OpenAPI document shows them. Query strings are text:
 * parseCollectionQuery and parseRecordQuery read and check them, refusing any other `$` option by name.
 */
export const QueryOptionsSchema = Type.Object({
  $select: Type.Optional(
    Type.String({
      description: 'The attributes to answer, comma-separated (the primary id always comes)',
      examples: ['msdyn_conversationid,msdyn_channel'],
    }),
  ),
  $filter: Type.Optional(
    Type.String({
      description:
        'An OData v4 filter (collections only): eq, ne, gt, ge, lt, le, and, or, not, contains, startswith and ' +
        `endswith, comparing an attribute with a literal; at most ${MAX_FILTER_OPERATORS} and/or, nested at most ` +
        `${MAX_FILTER_NESTING} deep`,
      examples: ["msdyn_channel eq 'chat' and createdon ge 2024-01-01T00:00:00Z"],
    }),
  ),
  $orderby: Type.Optional(
    Type.String({
      description: 'The order (collections only): `<attribute> [asc|desc], …`',
      examples: ['createdon desc'],
    }),
  ),
  $top: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_PAGE,
      description: `The page size (collections only); without it, pages of ${MAX_PAGE} with \`@odata.nextLink\``,
    }),
  ),
  $skip: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_SKIP,
      description: 'The records to pass over (collections only)',
    }),
  ),
  $count: Type.Optional(
    Type.Boolean({
      description: 'true adds `@odata.count`, every match whatever the page (collections only)',
    }),
  ),
});

const COLLECTION_OPTIONS = new Set(Object.keys(QueryOptionsSchema.properties));
/** One record is read whole or in part; the rest of the options are for collections. */
const RECORD_OPTIONS = new Set(['$select']);

/**
 * Reads system query options one by one: each given once, and every option outside `supported` refused by
 * name, so that an unsupported `$expand` never passes for one that was applied.
 */
function optionReader(
  options: Record<string, unknown>,
  supported: ReadonlySet<string>,
  violations: Violation[],
) {
  for (const name of Object.keys(options)) {
    if (name.startsWith('$') && !supported.has(name)) {
      violations.push({
        field: name,
        rule: 'supported',
        limit: [...supported],
        message: `is not supported here; OpenUA takes ${[...supported].join(', ')}`,
        received: options[name],
      });
    }
  }
  return (name: string) => {
    const value = options[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      violations.push({ field: name, rule: 'single', message: 'may be given once', received: value });
      return undefined;
    }
    return value;
  };
}

/** `$select`: attributes of the set. */
function selected(value: string | undefined, set: EntitySet, violations: Violation[]): string[] | undefined {
  const select = value?.split(',').map((s) => s.trim());
  for (const name of select ?? []) {
    if (!attributeNamed(set, name)) {
      violations.push({
        field: '$select',
        rule: 'attribute',
        message: `${JSON.stringify(name)} is not an attribute of ${set.set}`,
        received: name,
      });
    }
  }
  return select;
}

/** The system query options of a request for one record: `$select` only. */
export function parseRecordQuery(options: Record<string, unknown>, set: EntitySet): string[] | undefined {
  const violations: Violation[] = [];
  const text = optionReader(options, RECORD_OPTIONS, violations);
  const select = selected(text('$select'), set, violations);
  if (violations.length > 0) throw invalid(violations);
  return select;
}

/** Reads every system query option of a collection request, answering every violation at once. */
export function parseCollectionQuery(options: Record<string, unknown>, set: EntitySet): ODataQuery {
  const violations: Violation[] = [];
  const text = optionReader(options, COLLECTION_OPTIONS, violations);
  const known = (name: string, option: string) => {
    const attribute = attributeNamed(set, name);
    if (attribute && !attribute.slot && attribute.kind !== 'customData') return attribute;
    violations.push({
      field: option,
      rule: 'attribute',
      message: `${JSON.stringify(name)} is not a sortable attribute of ${set.set}`,
      received: name,
    });
    return undefined;
  };
  const count = (name: string, max: number) => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^\d{1,9}$/.test(value) || Number(value) > max) {
      violations.push({
        field: name,
        rule: 'range',
        limit: `0..${max}`,
        message: `must be a whole number from 0 to ${max}`,
        received: value,
      });
      return undefined;
    }
    return Number(value);
  };

  const select = selected(text('$select'), set, violations);
  const orderBy = (text('$orderby') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .flatMap((clause) => {
      const match = /^(\S+)(?:\s+(asc|desc))?$/i.exec(clause);
      const attribute = match && known(match[1] as string, '$orderby');
      if (!match) {
        violations.push({
          field: '$orderby',
          rule: 'syntax',
          limit: '<attribute> [asc|desc], …',
          message: 'each clause is an attribute, optionally followed by asc or desc',
          received: clause,
        });
      }
      return attribute ? [{ field: attribute.field, descending: match?.[2]?.toLowerCase() === 'desc' }] : [];
    });
  const top = count('$top', MAX_PAGE);
  const skip = count('$skip', MAX_SKIP);
  const countOption = text('$count');
  if (countOption !== undefined && countOption !== 'true' && countOption !== 'false') {
    violations.push({
      field: '$count',
      rule: 'enum',
      limit: ['true', 'false'],
      message: 'must be true or false',
      received: countOption,
    });
  }
  const filterText = text('$filter');
  if (violations.length > 0) throw invalid(violations);
  const where = filterText === undefined ? undefined : parseFilter(filterText, set);
  return {
    // Without $top, one more than a page is read to learn whether a next link is owed.
    query: { where, orderBy, limit: top ?? MAX_PAGE + 1, offset: skip, count: countOption === 'true' },
    select,
    top,
  };
}

const KEY_PAIR = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'((?:[^']|'')*)'\s*(?:,|$)/;

/**
 * The id a key segment addresses: `(<id>)`, `('<id>')`, or an alternate key made of the set's natural key,
 * as in `msdyn_sessionsdata(msdyn_conversationid='c1',msdyn_providersessionid='s1')`. Records with a
 * natural key have ids derived from it, so a server that knows only its own ids needs no lookup first.
 */
export function recordIdOf(set: EntitySet, org: string, key: string): string {
  const text = key.trim();
  if (!text.includes('=')) return text.replace(/^'(.*)'$/, '$1').toLowerCase();
  const names = set.table ? set.attributes.filter((a) => a.key).map((a) => a.name) : [];
  const usage =
    names.length > 0
      ? `${set.set} is addressed by its ${set.primaryId}, or by ${names.map((n) => `${n}='…'`).join(',')}`
      : `${set.set} is addressed by its ${set.primaryId} only`;
  const refuse = () => invalid([{ field: 'key', rule: 'key', limit: usage, message: usage, received: key }]);
  const pairs = new Map<string, string>();
  for (let rest = text; rest.length > 0; ) {
    const match = KEY_PAIR.exec(rest);
    if (!match) throw refuse();
    pairs.set(match[1] as string, (match[2] as string).replaceAll("''", "'"));
    rest = rest.slice(match[0].length);
  }
  if (names.length === 0 || pairs.size !== names.length || !names.every((n) => pairs.has(n))) throw refuse();
  return naturalId(
    org,
    set,
    names.map((n) => pairs.get(n)),
  );
}
