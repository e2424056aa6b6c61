import type { ErrorBody, Violation } from './types.ts';

/**
 * Why OpenUA (or the way to it) refused something: the server's error body (`code`, `message`, every
 * violation with its field, rule, limit and the value received), or the SDK's own codes, with status 0:
 * `NETWORK` (no answer), `DROPPED` (the queue was full, see Delivery), `INVALID_REQUEST` from debug mode.
 * A rejected batch item is `REJECTED` with the server's violations.
 */
export class OpenUAError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly violations: Violation[] = [],
  ) {
    super(message);
    this.name = 'OpenUAError';
  }
}

/** The error an answer describes: OpenUA's error body, the OData wrapping of it, or just the status. */
export function errorOf(status: number, body: unknown): OpenUAError {
  const raw = (body ?? {}) as Partial<ErrorBody> & { error?: unknown };
  const error = (typeof raw.error === 'object' && raw.error ? raw.error : raw) as Partial<ErrorBody>;
  return new OpenUAError(
    error.message ?? `HTTP ${status}`,
    status,
    error.code ?? `HTTP_${status}`,
    error.violations ?? [],
  );
}

/** An event refused by the server, named by its violations. */
export const rejected = (violations: Violation[]) =>
  new OpenUAError(
    `Rejected: ${violations.map((v) => `${v.field || 'event'}: ${v.message} (${v.rule})`).join('; ')}`,
    400,
    'REJECTED',
    violations,
  );
