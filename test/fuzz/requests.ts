/**
 * One fuzz request as it goes over the wire, how it is sent, and how its answer is judged. A request is
 * plain data (method, path, headers, body bytes) so that a failure can print exactly what was sent.
 */

export interface FuzzRequest {
  method: string;
  /** Path and query string, as sent. */
  path: string;
  headers: Record<string, string>;
  /** The body's bytes, or none. */
  body?: Uint8Array;
}

export interface FuzzAnswer {
  /** The status, or 0 when no answer came (the connection died, or the server took too long). */
  status: number;
  /** The answer's body, cut short, or why none came. */
  text: string;
  /** `code` of an OpenUA error body (`error.code` of an OData one), when there is one. */
  code?: string;
}

const ANSWER_TIMEOUT_MS = 30_000;

/** A body this large may be refused (413) before it is read: the server then closes the connection mid-upload. */
const LARGE_BODY = 1024 * 1024;

/**
 * Sends a request and answers the server's answer. When none came, it tells a server that closed the
 * connection on purpose from one that failed: a large body refused before it was read loses its 413 to the
 * closed connection (EPIPE, ECONNRESET) while the server stays up; any other lost answer is sent once more on
 * a fresh connection, and only a second loss, or a server that no longer answers, is "no answer".
 */
export async function send(url: string, request: FuzzRequest): Promise<FuzzAnswer> {
  const first = await sendOnce(url, request);
  if (first.status !== 0) return first;
  const alive = await isAlive(url);
  if (!alive) return { ...first, text: `${first.text}; the server no longer answers` };
  if ((request.body?.length ?? 0) >= LARGE_BODY && /EPIPE|ECONNRESET|UND_ERR_SOCKET/.test(first.text)) {
    return {
      status: 413,
      code: 'BODY_TOO_LARGE',
      text: `(taken for 413: the connection was closed while a ${request.body?.length}-byte body was sent: ${first.text})`,
    };
  }
  const again = await sendOnce(url, request);
  return again.status === 0 ? { ...again, text: `${again.text} (twice)` } : again;
}

async function isAlive(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/rest/ua/v15/analytics/status`, {
      signal: AbortSignal.timeout(10_000),
    });
    await response.text();
    return response.ok;
  } catch {
    return false;
  }
}

async function sendOnce(url: string, request: FuzzRequest): Promise<FuzzAnswer> {
  try {
    const response = await fetch(`${url}${request.path}`, {
      method: request.method,
      headers: request.headers,
      // Bytes, never a string: fetch adds no Content-Type of its own to bytes, so the case decides it.
      ...(request.body !== undefined && { body: request.body as unknown as BodyInit }),
      signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
    });
    const text = await response.text();
    return { status: response.status, text: text.slice(0, 2_000), code: codeOf(text) };
  } catch (error) {
    return { status: 0, text: `no answer: ${(error as Error).message} (${causeOf(error)})` };
  }
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? 'no cause';
}

function codeOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { code?: unknown; error?: { code?: unknown } };
    const code = body.code ?? body.error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The 503s a server answers on purpose: a full queue, or a log that cannot be written or a server stopping. */
export const DELIBERATE_503 = new Set(['OVERLOADED', 'UNAVAILABLE']);

/** Whether bytes are well-formed UTF-8 (a strict decoder refuses them otherwise). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const JSON_MEDIA = /^\s*(application\/json|text\/plain)\s*(;|$)/i;

/**
 * What is wrong with an answer, or undefined when nothing is:
 * - any 5xx but a deliberate 503 (OVERLOADED, UNAVAILABLE), or no answer at all, is a server defect;
 * - a refusal (4xx) must be OpenUA's documented error body, with its code (OData's: `error.code`);
 * - a JSON (or text/plain) body that is not UTF-8 must be refused (RFC 8259 §8.1), not accepted with 2xx.
 */
export function verdict(request: FuzzRequest, answer: FuzzAnswer): string | undefined {
  if (answer.status === 0) return 'no answer';
  if (answer.status === 503 && answer.code !== undefined && DELIBERATE_503.has(answer.code)) return undefined;
  if (answer.status >= 500) return `${answer.status} ${answer.code ?? ''}`.trim();
  // Every refusal is the documented error body, with a stable code (OData's inside `error`).
  if (answer.status >= 400 && answer.code === undefined) return `${answer.status} without an error code`;
  if (
    answer.status < 300 &&
    request.body !== undefined &&
    JSON_MEDIA.test(request.headers['content-type'] ?? '') &&
    !isUtf8(request.body)
  ) {
    return `${answer.status}: a body that is not UTF-8 was accepted`;
  }
  return undefined;
}

/**
 * A body as a JSON-escaped string when it is UTF-8, else as hex: what to paste into a reproduction. A long one
 * is written with its runs folded, `⟨[ ×3000⟩` for 3,000 `[` (the exact bytes are in the finding's file).
 */
export function showBody(body: Uint8Array | undefined, limit = 3_000): string {
  if (body === undefined) return '(none)';
  const size = `${body.length} bytes`;
  const text = isUtf8(body)
    ? JSON.stringify(Buffer.from(body).toString('utf8'))
    : `hex ${Buffer.from(body).toString('hex')}`;
  if (text.length <= limit) return `${text} (${size})`;
  const folded = fold(text);
  return folded.length <= limit
    ? `${folded} (${size}, runs folded)`
    : `${folded.slice(0, limit)} … (${size}, runs folded, cut at ${limit} characters)`;
}

/** Runs of one short unit repeated more than 8 times, as `⟨unit ×n⟩`. */
export function fold(text: string): string {
  return text.replace(
    /(.{1,24}?)\1{8,}/gs,
    (run: string, unit: string) => `⟨${unit} ×${run.length / unit.length}⟩`,
  );
}

/** A request as a reader can replay it: method, path, headers (credentials shown by role), body. */
export function showRequest(request: FuzzRequest, secrets: Record<string, string> = {}): string {
  const headers = Object.entries(request.headers).map(([name, value]) => {
    let shown = value;
    for (const [role, secret] of Object.entries(secrets)) shown = shown.replaceAll(secret, `<${role}>`);
    return `  ${name}: ${JSON.stringify(shown)}`;
  });
  return [`${request.method} ${request.path}`, ...headers, `  body: ${showBody(request.body)}`].join('\n');
}
