import type { Violation } from '../core/errors.ts';

/** Most origins one organization may list. */
export const ALLOWED_ORIGINS_MAX = 100;

/**
 * An origin as a browser sends it in `Origin`: `http` or `https`, a lower-case host, and a port only when it
 * is not the scheme's default; no path, no trailing slash, no wildcard. Anything else could never match an
 * `Origin` header, so it is refused rather than kept to no effect. `null` (sandboxed frames, `file:` pages) is
 * never an allowed origin.
 */
function originProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an origin such as https://dash.example.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https origin';
  if (!/^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname)) {
    return 'must name one host (no wildcard): list each origin';
  }
  if (url.origin !== value) return `must be written as a browser sends it: ${url.origin}`;
  return undefined;
}

/** `allowedOrigins`: a list of exact origins, or null (none). */
export function checkAllowedOrigins(value: unknown, field: string): Violation[] {
  if (value === null) return [];
  if (!Array.isArray(value)) {
    return [
      {
        field,
        rule: 'type',
        message: 'must be a list of origins such as ["https://dash.example.com"], or null',
        received: value,
      },
    ];
  }
  if (value.length > ALLOWED_ORIGINS_MAX) {
    return [
      {
        field,
        rule: 'maxItems',
        limit: ALLOWED_ORIGINS_MAX,
        message: `must list at most ${ALLOWED_ORIGINS_MAX} origins`,
        received: value.length,
      },
    ];
  }
  const violations: Violation[] = [];
  value.forEach((origin, i) => {
    const problem = typeof origin === 'string' ? originProblem(origin) : 'must be a string';
    if (problem) {
      violations.push({
        field: `${field}.${i}`,
        rule: typeof origin === 'string' ? 'origin' : 'type',
        message: problem,
        received: typeof origin === 'string' ? origin.slice(0, 256) : origin,
      });
    }
  });
  return violations;
}
