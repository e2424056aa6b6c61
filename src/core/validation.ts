import { type TSchema, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { echo, invalid, type Violation } from './errors.ts';
import { ruleOfKeyword } from './rules.ts';

/**
 * One Ajv for the whole server. Schemas are compiled once, at start-up, with allErrors so that a
 * rejection lists every violation, not only the first one, and verbose so each carries the value received.
 */
export const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, coerceTypes: false });

const FORMAT_MESSAGES: Record<string, string> = {};

/** Registers a named string format with the message its violations carry. */
export function addFormat(name: string, test: (value: string) => boolean, message: string): void {
  ajv.addFormat(name, { type: 'string', validate: test });
  FORMAT_MESSAGES[name] = message;
}

addFormat(
  'uuid',
  (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  'must be a UUID (8-4-4-4-12 hexadecimal digits)',
);
addFormat(
  'date-time',
  (v) => !Number.isNaN(Date.parse(v)) && /^\d{4}-\d{2}-\d{2}/.test(v),
  'must be an ISO 8601 date-time',
);

/**
 * Whether text holds a control character that identifiers and names refuse: U+0000–U+001F other than tab,
 * line feed and carriage return (the three that XML 1.0 text allows, and that text pasted from any system
 * may hold), and U+007F.
 */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || code === 0x7f) return true;
  }
  return false;
}

addFormat(
  'printable',
  (v) => !hasControlCharacter(v),
  'must not hold control characters (U+0000–U+001F other than tab, line feed and carriage return, and U+007F)',
);

/**
 * An identifier or a name (an event type, an id, a username, an origin level, a URL…): a string without
 * control characters (format `printable`), with the given bounds. Free text (a query, a title, customData
 * values) is a plain Type.String: it may hold them, though no text may hold NUL (json.ts).
 */
export const printable = (options: { minLength?: number; maxLength?: number; description?: string } = {}) =>
  Type.String({ format: 'printable', ...options });

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** A JSON pointer as the field path violations name: `/facetState/1/id` → `facetState[1].id`. */
function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function toViolation(error: ErrorObject): Violation {
  const field = pointerToField(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const join = (child: string) => (field ? `${field}.${child}` : child);
  switch (error.keyword) {
    case 'required':
      return { field: join(String(params.missingProperty)), rule: 'required', message: 'is required' };
    case 'maxLength':
      return {
        field,
        rule: 'maxLength',
        limit: params.limit,
        message: `must be at most ${params.limit} characters`,
        received: echo(error.data),
      };
    case 'minLength':
      return {
        field,
        rule: 'minLength',
        limit: params.limit,
        message: params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters`,
        received: echo(error.data),
      };
    case 'maximum':
    case 'minimum':
      return {
        field,
        rule: error.keyword,
        limit: params.limit,
        message: `must be ${error.keyword === 'maximum' ? '≤' : '≥'} ${params.limit}`,
        received: echo(error.data),
      };
    case 'type':
      return {
        field,
        rule: 'type',
        limit: params.type,
        message: `must be ${article(String(params.type))}`,
        received: echo(error.data),
      };
    case 'format':
      return {
        field,
        rule: 'format',
        limit: params.format,
        message: FORMAT_MESSAGES[String(params.format)] ?? `must match format ${params.format}`,
        received: echo(error.data),
      };
    case 'enum':
      return {
        field,
        rule: 'enum',
        limit: params.allowedValues,
        message: `must be one of: ${(params.allowedValues as unknown[]).join(', ')}`,
        received: echo(error.data),
      };
    case 'additionalProperties':
      return {
        field: join(String(params.additionalProperty)),
        rule: 'unknownField',
        message: 'is not a field of this body',
        received: echo((error.data as Record<string, unknown>)[String(params.additionalProperty)]),
      };
    case 'pattern':
      return {
        field,
        rule: 'pattern',
        limit: params.pattern,
        message: `must match ${params.pattern}`,
        received: echo(error.data),
      };
    default:
      return {
        field,
        rule: ruleOfKeyword(error.keyword),
        message: error.message ?? 'is invalid',
        received: echo(error.data),
      };
  }
}

export type Check = (value: unknown) => Violation[];

/** Compiles a schema once; the check answers every violation (an empty list when the value is valid). */
export function compileCheck(schema: TSchema): Check {
  const validate = ajv.compile(schema);
  return (value) => (validate(value) ? [] : (validate.errors ?? []).map(toViolation));
}

/**
 * A string from a closed list, as a JSON Schema enum: a refusal then lists the allowed values once
 * (`enum`), where a union of literals would report every branch (`const` … `anyOf`).
 */
export const oneOf = <T extends string>(values: readonly T[], options: { description?: string } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });

/**
 * Schemas a route declares for its documentation while its handler checks them, with the domain rules that
 * follow (event bodies: a beacon's form is unwrapped first, and each refusal lists schema and domain violations
 * together). Fastify does not check these a second time.
 */
const CHECKED_BY_HANDLER = new WeakSet<object>();

export function checkedByHandler<T extends TSchema>(schema: T): T {
  const declared = { ...schema };
  CHECKED_BY_HANDLER.add(declared);
  return declared;
}

/**
 * Fastify's validator for the schemas routes declare (body, querystring, params): the same Ajv and violations as
 * every other check, so a route's declared schema is its one validation and a refusal is OpenUA's 400.
 */
export function routeValidatorCompiler({ schema }: { schema: unknown }) {
  if (CHECKED_BY_HANDLER.has(schema as object)) return () => true;
  const check = compileCheck(schema as TSchema);
  return (data: unknown) => {
    const violations = check(data);
    return violations.length === 0 ? { value: data } : { error: invalid(violations) };
  };
}
