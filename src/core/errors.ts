import { type Static, Type } from '@sinclair/typebox';
import { RULES, type RuleName } from './rules.ts';

/**
 * Every error OpenUA answers with is made here, so each code has one meaning and one status.
 * The body shape is documented in the README ("Errors"):
 *   {statusCode, code, error, message, type?, violations?: [{field, rule, message, received?, limit?}]}
 */

export interface Violation {
  /** Path of the offending field, dotted (`customData.Facet Id`, `outcome`). `''` means the whole body. */
  field: string;
  /** The rule that failed, from the registry in rules.ts: `required`, `maxLength`, `type`, `format`, … */
  rule: Rule;
  message: string;
  /** The value received, cut to RECEIVED_ECHO_LIMIT characters when it is a long string. */
  received?: unknown;
  /** The rule's bound (a length, a range end, a pattern) when it has one. */
  limit?: unknown;
}

interface ErrorCodeSpec {
  status: number;
  error: string;
  /** Coveo's own error type, sent as `type`, where clients of Coveo's API tell errors apart by it. */
  type?: string;
}

export const ErrorCodes = {
  INVALID_REQUEST: { status: 400, error: 'Bad Request' },
  // Coveo answers an untrusted search token with 400 `InvalidToken` (reference §4), not 401.
  INVALID_TOKEN: { status: 400, error: 'Bad Request', type: 'InvalidToken' },
  UNAUTHENTICATED: { status: 401, error: 'Unauthorized' },
  FORBIDDEN: { status: 403, error: 'Forbidden' },
  ANALYTICS_DISABLED: { status: 403, error: 'Forbidden' },
  NOT_FOUND: { status: 404, error: 'Not Found' },
  CONFLICT: { status: 409, error: 'Conflict' },
  BODY_TOO_LARGE: { status: 413, error: 'Payload Too Large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, error: 'Unsupported Media Type' },
  RATE_LIMITED: { status: 429, error: 'Too Many Requests' },
  OVERLOADED: { status: 503, error: 'Service Unavailable' },
  UNAVAILABLE: { status: 503, error: 'Service Unavailable' },
  INTERNAL: { status: 500, error: 'Internal Server Error' },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

/** A rule from the registry (rules.ts), an error code (a whole request refused for one reason), or Fastify's code. */
export type Rule = RuleName | ErrorCode | `FST_${string}`;

const RECEIVED_ECHO_LIMIT = 256;

/** Long strings are echoed cut short so an error never becomes a copy of a huge body. */
export function echo(value: unknown): unknown {
  if (typeof value === 'string' && value.length > RECEIVED_ECHO_LIMIT) {
    return `${value.slice(0, RECEIVED_ECHO_LIMIT)}… (${value.length} characters)`;
  }
  return value;
}

export class OpenUAError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly violations?: Violation[],
    /** Seconds a client should wait before retrying (sent as Retry-After). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.statusCode = ErrorCodes[code].status;
  }

  /** What was wrong, as violations: the error's own, or the whole request named by the error's code. */
  violationList(): Violation[] {
    return this.violations ?? [{ field: '', rule: this.code, message: this.message }];
  }

  toJSON() {
    const spec: ErrorCodeSpec = ErrorCodes[this.code];
    return {
      statusCode: this.statusCode,
      code: this.code,
      error: spec.error,
      ...(spec.type ? { type: spec.type } : {}),
      message: this.message,
      ...(this.violations ? { violations: this.violations } : {}),
    };
  }
}

export const invalid = (violations: Violation[]) =>
  new OpenUAError(
    'INVALID_REQUEST',
    violations.length === 1
      ? `Invalid request: ${violations[0]?.field || 'body'}: ${violations[0]?.message}`
      : `Invalid request: ${violations.length} violations`,
    violations,
  );

export const unauthenticated = (message: string, violations?: Violation[]) =>
  new OpenUAError('UNAUTHENTICATED', message, violations);

/**
 * `access_token` (query or form body) on a route beacons do not post to (the UA Write API's, and the batch route
 * the SDK's beacon flushes to): anywhere else it would put a secret in URLs and logs. The value is never echoed.
 */
export const accessTokenRefused = () =>
  unauthenticated(
    'access_token is accepted only on the UA Write API (/rest/ua/v15/analytics/… and /rest/v15/analytics/…) and ' +
      'on POST /api/v1/events/batch, for beacons that cannot set a header; elsewhere it would put a secret in ' +
      'URLs and logs. Send "Authorization: Bearer <credential>" instead',
    [
      {
        field: 'access_token',
        rule: 'authorizationHeader',
        message: 'must be sent as "Authorization: Bearer <credential>" on this route',
      },
    ],
  );

/**
 * A search token that cannot be trusted: malformed, of no known organization, expired, badly signed. The
 * auth hook answers it as 401 on routes that are not Coveo's, where any bad credential is a 401.
 */
export const invalidToken = (message: string, violation: Violation) =>
  new OpenUAError('INVALID_TOKEN', message, [violation]);

export const forbidden = (message: string, violations?: Violation[]) =>
  new OpenUAError('FORBIDDEN', message, violations);

export const notFound = (message: string) => new OpenUAError('NOT_FOUND', message);

export const analyticsDisabled = (message: string, violation: Violation) =>
  new OpenUAError('ANALYTICS_DISABLED', message, [violation]);

export const conflict = (message: string) => new OpenUAError('CONFLICT', message);

export const overloaded = (retryAfterSeconds: number) =>
  new OpenUAError(
    'OVERLOADED',
    `The ingest queue is full; the event was not accepted. Retry after ${retryAfterSeconds} s.`,
    undefined,
    retryAfterSeconds,
  );

/** A credential over its organization's rate limit; the headers (RateLimit-*, Retry-After) say when it lifts. */
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  new OpenUAError('RATE_LIMITED', message, undefined, retryAfterSeconds);

export const unavailable = (message: string, retryAfterSeconds = 1) =>
  new OpenUAError('UNAVAILABLE', message, undefined, retryAfterSeconds);

const list = (entries: [string, string][]) =>
  entries.map(([name, meaning]) => `- \`${name}\`: ${meaning}`).join('\n');

/** The error answer as a schema, for the OpenAPI document: the shape `OpenUAError.toJSON` writes. */
export const ErrorBodySchema = Type.Object(
  {
    statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
    code: Type.String({
      enum: Object.keys(ErrorCodes),
      description: `What went wrong, one status each:\n${list(
        Object.entries(ErrorCodes).map(([code, spec]) => [code, `${spec.status} ${spec.error}`]),
      )}`,
    }),
    error: Type.String({ description: "The status's reason phrase" }),
    type: Type.Optional(
      Type.String({ description: "Coveo's error type, where Coveo's clients tell errors apart by it" }),
    ),
    message: Type.String({ description: 'What was wrong and what to do, in one sentence' }),
    violations: Type.Optional(
      Type.Array(
        Type.Object({
          field: Type.String({
            description:
              "The offending field's path (`customData.Facet Id`, `[2].outcome`); '' is the whole body",
          }),
          rule: Type.String({
            description: `The rule that failed: one of these, an error code (the whole request, for that reason), or a Fastify code (FST_…):\n${list(Object.entries(RULES))}`,
            examples: ['required', 'maxLength', 'type'],
          }),
          message: Type.String(),
          received: Type.Optional(
            Type.Unknown({ description: 'The value received (long text cut to 256 characters)' }),
          ),
          limit: Type.Optional(Type.Unknown({ description: "The rule's bound, where it has one" })),
        }),
      ),
    ),
  },
  {
    $id: 'Error',
    title: 'Error',
    description: 'Every error answer (OData routes wrap it as `{error: {code, message, violations}}`)',
  },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;
