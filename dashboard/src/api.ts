/**
 * The dashboard's one door to OpenUA: every number it shows comes from the public APIs, called with the
 * signed-in credential as `Authorization: Bearer`. The page is served by the API's own server, so every call is
 * same-origin (no CORS).
 */

const CREDENTIAL_KEY = 'openua.credential';

/** A violation as OpenUA's error answers list them. */
export interface Violation {
  field: string;
  rule: string;
  message: string;
  received?: unknown;
  limit?: unknown;
}

/** An error answer from the API (or the network failing), in OpenUA's error shape. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly violations: Violation[];

  constructor(status: number, code: string, message: string, violations: Violation[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.violations = violations;
  }
}

/** The credential (an API key or a search token) of this tab's session, or null when signed out. */
export function credential(): string | null {
  return sessionStorage.getItem(CREDENTIAL_KEY);
}

export function signOut(): void {
  sessionStorage.removeItem(CREDENTIAL_KEY);
}

/**
 * Checks a credential with the cheapest query the dashboard needs (`count` over the last minute), and keeps it
 * for the tab's session only when the query API accepts it: a key without `analytics:read` is refused with a
 * message saying so rather than stored to fail on every page.
 */
export async function signIn(candidate: string): Promise<void> {
  const trimmed = candidate.trim();
  if (!trimmed) throw new ApiError(0, 'EMPTY', 'Paste an API key or a search token to sign in.');
  const to = new Date();
  const from = new Date(to.getTime() - 60_000);
  try {
    await request(
      'POST',
      '/api/v1/query',
      { measures: ['count'], from: from.toISOString(), to: to.toISOString() },
      trimmed,
    );
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new ApiError(
        401,
        error.code,
        `This credential was not accepted: ${error.message}`,
        error.violations,
      );
    }
    if (error instanceof ApiError && error.status === 403) {
      throw new ApiError(
        403,
        error.code,
        `This credential cannot read analytics: the dashboard needs a key with the analytics:read privilege (${error.message})`,
        error.violations,
      );
    }
    throw error;
  }
  sessionStorage.setItem(CREDENTIAL_KEY, trimmed);
}

/** Listeners told when the API refuses the stored credential (401), so the shell can return to sign-in. */
const unauthenticatedListeners = new Set<() => void>();

export function onUnauthenticated(listener: () => void): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

async function request<T>(method: string, path: string, body?: unknown, bearer = credential()): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `OpenUA could not be reached (${(error as Error).message}).`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const failure = (parsed ?? {}) as {
      code?: string;
      message?: string;
      violations?: Violation[];
      error?: unknown;
    };
    // OData routes wrap their errors as {error: {code, message, violations}}.
    const inner =
      failure.error && typeof failure.error === 'object' ? (failure.error as typeof failure) : failure;
    const error = new ApiError(
      response.status,
      inner.code ?? `HTTP_${response.status}`,
      inner.message ?? (typeof parsed === 'string' && parsed ? parsed : response.statusText),
      inner.violations ?? [],
    );
    if (response.status === 401 && bearer === credential()) {
      for (const listener of unauthenticatedListeners) listener();
    }
    throw error;
  }
  return parsed as T;
}

export const get = <T = unknown>(path: string) => request<T>('GET', path);
export const post = <T = unknown>(path: string, body: unknown) => request<T>('POST', path, body);
export const patch = <T = unknown>(path: string, body: unknown) => request<T>('PATCH', path, body);
export const del = <T = unknown>(path: string) => request<T>('DELETE', path);

/** A filter of the query API: `{field, op, value}`, or `{and}` / `{or}` of filters. */
export type QueryFilter =
  | { field: string; op: 'eq' | 'ne' | 'in' | 'contains' | 'gt' | 'ge' | 'lt' | 'le'; value: unknown }
  | { and: QueryFilter[] }
  | { or: QueryFilter[] };

export type QueryMeasure =
  | string
  | { fn: string; field: string; as?: string }
  | { kpi: string; as?: string; [parameter: string]: unknown };

/** A spec of `POST /api/v1/query` (docs/api/query.md). */
export interface QuerySpec {
  measures: QueryMeasure[];
  dimensions?: string[];
  filters?: QueryFilter[];
  from?: string;
  to?: string;
  granularity?: 'minute' | 'hour' | 'day' | 'week' | 'month';
  timeZone?: string;
  orderBy?: { field: string; direction?: 'asc' | 'desc' }[];
  limit?: number;
  compare?: 'previousPeriod';
}

export type QueryRow = Record<string, string | number | boolean | null>;

export interface QueryAnswer {
  rows: QueryRow[];
  meta: {
    from: string;
    to: string;
    timeZone: string;
    columns: { name: string; type?: string }[] | string[];
    rowCount: number;
    truncated: boolean;
    typeErrors?: Record<string, number>;
    [key: string]: unknown;
  };
}

/** `POST /api/v1/query`: the query API's answer for one spec. */
export const query = (spec: QuerySpec) => post<QueryAnswer>('/api/v1/query', spec);
