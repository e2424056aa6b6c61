import { errorOf, OpenUAError } from './errors.ts';

/**
 * An answer, classified: the body of a 2xx; or an error that is final (a 4xx: the same request would be
 * refused again) or worth retrying (no answer, 408, 429, 5xx), after `retryAfterMs` when the server said.
 */
export type Answer<T> =
  | { ok: true; body: T }
  | { ok: false; error: OpenUAError; retry: boolean; retryAfterMs?: number };

/** A request that hangs is abandoned and retried like one that failed. */
const TIMEOUT_MS = 30_000;

/** `POST <endpoint><path>` with the credential as a Bearer header and a JSON body. Never throws. */
export async function post<T>(
  endpoint: string,
  path: string,
  token: string,
  body: unknown,
): Promise<Answer<T>> {
  let status = 0;
  try {
    const response = await fetch(endpoint.replace(/\/+$/, '') + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    status = response.status;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {}
    if (response.ok) return { ok: true, body: parsed as T };
    return {
      ok: false,
      error: errorOf(status, parsed),
      retry: status === 408 || status === 429 || status >= 500,
      retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
    };
  } catch (error) {
    // No answer, or one cut off: the request may or may not have been processed, which the idempotency
    // key makes safe to retry.
    return {
      ok: false,
      error: new OpenUAError(`No answer from ${endpoint}: ${(error as Error).message}`, status, 'NETWORK'),
      retry: true,
    };
  }
}

/** `Retry-After` in milliseconds: seconds, or an HTTP date. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isNaN(seconds) ? Date.parse(header) - Date.now() : seconds * 1000;
  return Number.isNaN(ms) ? undefined : Math.max(0, ms);
}

export interface Backoff {
  /** The first retry waits up to this long (ms, default 1,000); each next one up to twice as long. */
  retryBaseMs?: number;
  /** The longest wait between retries (ms, default 60,000), unless the server's Retry-After asks more. */
  retryMaxMs?: number;
}

/**
 * How long to wait before retry number `attempt` (0 for the first): exponential backoff with full jitter
 * (a random wait up to the exponential bound, so clients that failed together do not retry together), and
 * never less than the server's Retry-After.
 */
export function backoffMs(attempt: number, options: Backoff, retryAfter = 0): number {
  const bound = Math.min(options.retryMaxMs ?? 60_000, (options.retryBaseMs ?? 1000) * 2 ** attempt);
  return Math.max(retryAfter, Math.random() * bound);
}

/**
 * `post`, retried with backoff until it is answered with a 2xx or a final error, at most `attempts` times:
 * for calls that are answered directly rather than queued (the channel's initLogAnalytics). Rejects with
 * the last error.
 */
export async function postWithRetries<T>(
  endpoint: string,
  path: string,
  token: string,
  body: unknown,
  options: Backoff & { attempts?: number } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const answer = await post<T>(endpoint, path, token, body);
    if (answer.ok) return answer.body;
    if (!answer.retry || attempt + 1 >= (options.attempts ?? 5)) throw answer.error;
    await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt, options, answer.retryAfterMs)));
  }
}
