import { isUtf8 } from 'node:buffer';
import sjson from 'secure-json-parse';
import { echo, invalid, type Violation } from './errors.ts';

/**
 * The rules every JSON value OpenUA reads from a request meets before any route sees it (README, "Body
 * rules"): nested at most MAX_JSON_DEPTH levels, and no string or key holding NUL or a lone surrogate. They
 * are checked here, once, without recursion, so that no code after the parser (validation, normalisation,
 * query compilation) can be made to overflow the stack or store text other than what was acknowledged.
 */

/**
 * The deepest nesting of arrays and objects a body may have: the body itself is level 1. The deepest real
 * payloads (a logAnalyticsEvent's customData values, a query's nested and/or filters) use about 10.
 */
export const MAX_JSON_DEPTH = 64;

/** At most this many violations of these rules are listed for one body: the rest are of the same kind. */
const MAX_LISTED = 100;

/** `String.prototype.isWellFormed` (ES2024, in Node since 20): false when a lone surrogate is in the text. */
const isWellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Whether a string can be stored as sent: no NUL, no lone surrogate. */
const isPlainText = (text: string) => !text.includes('\u0000') && isWellFormed(text);

/** Why a string cannot be stored as sent, by rule, or undefined when it can. */
function textViolation(text: string, field: string): Violation | undefined {
  if (text.includes('\u0000')) {
    return {
      field,
      rule: 'nul',
      message: 'holds U+0000 (NUL), which no text may hold',
      received: echo(text),
    };
  }
  if (!isWellFormed(text)) {
    return {
      field,
      rule: 'unicode',
      message:
        'holds a lone surrogate (an unpaired \\ud800–\\udfff escape): it is not Unicode text, and could not be stored as sent',
      received: echo(text),
    };
  }
  return undefined;
}

/** An array or object met on the walk, with how it was reached (for the field path of a violation). */
interface Frame {
  value: object;
  depth: number;
  parent: Frame | undefined;
  key: string | number;
}

/** `data.events[0].additionalData`: the path of `key` under `frame`, after the caller's `prefix`. */
function pathOf(frame: Frame | undefined, key: string | number | undefined, prefix: string): string {
  const keys: (string | number)[] = key === undefined ? [] : [key];
  for (let at = frame; at?.parent !== undefined; at = at.parent) keys.push(at.key);
  let path = prefix;
  for (let i = keys.length - 1; i >= 0; i--) {
    const part = keys[i] as string | number;
    path = typeof part === 'number' ? `${path}[${part}]` : path ? `${path}.${part}` : part;
  }
  return path;
}

/**
 * The violations of the body rules in a parsed JSON value (an empty list when it has none), found by one
 * walk with an explicit stack: depth beyond MAX_JSON_DEPTH, and strings or keys holding NUL or a lone
 * surrogate. `prefix` names where the value is (a form field holding JSON).
 */
export function jsonViolations(root: unknown, prefix = ''): Violation[] {
  if (typeof root === 'string') {
    const found = textViolation(root, prefix);
    return found ? [found] : [];
  }
  if (root === null || typeof root !== 'object') return [];
  const violations: Violation[] = [];
  const stack: Frame[] = [{ value: root, depth: 1, parent: undefined, key: '' }];
  const children: Frame[] = [];
  while (stack.length > 0 && violations.length < MAX_LISTED) {
    const frame = stack.pop() as Frame;
    if (frame.depth > MAX_JSON_DEPTH) {
      violations.push({
        field: pathOf(frame, undefined, prefix),
        rule: 'depth',
        limit: MAX_JSON_DEPTH,
        message: `is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`,
      });
      continue;
    }
    // Plain loops, no closure: this runs over every value of every body.
    if (Array.isArray(frame.value)) {
      const items = frame.value as unknown[];
      for (let i = 0; i < items.length; i++) {
        const child = items[i];
        if (typeof child === 'string') {
          if (!isPlainText(child))
            violations.push(textViolation(child, pathOf(frame, i, prefix)) as Violation);
        } else if (child !== null && typeof child === 'object') {
          children.push({ value: child, depth: frame.depth + 1, parent: frame, key: i });
        }
      }
    } else {
      const object = frame.value as Record<string, unknown>;
      for (const key in object) {
        const child = object[key];
        if (!isPlainText(key)) violations.push(textViolation(key, pathOf(frame, key, prefix)) as Violation);
        else if (typeof child === 'string') {
          if (!isPlainText(child))
            violations.push(textViolation(child, pathOf(frame, key, prefix)) as Violation);
        } else if (child !== null && typeof child === 'object') {
          children.push({ value: child, depth: frame.depth + 1, parent: frame, key });
        }
      }
    }
    // Backwards, so that the stack pops them in the body's order.
    while (children.length > 0) stack.push(children.pop() as Frame);
  }
  return violations.slice(0, MAX_LISTED);
}

/**
 * JSON.parse for every JSON body and every JSON a body holds (a beacon's form field), with the same refusal
 * of `__proto__` and `constructor.prototype` keys that Fastify applies to application/json, so every body
 * shape is equally safe to copy into plain objects; then the body rules above. A syntax error is thrown as
 * JSON.parse throws it (the caller names the body); a broken body rule as a 400 naming each place.
 */
export function parseJson(text: string, prefix = ''): unknown {
  const value: unknown = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  const violations = jsonViolations(value, prefix);
  if (violations.length > 0) throw invalid(violations);
  return value;
}

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing beyond U+10FFFF), or -1.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const more = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 ? 3 : 0;
    if (more === 0 || lead > 0xf4) return i;
    // The second byte's range is narrower after these leads (Unicode Table 3-7).
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= more; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < (k === 1 ? low : 0x80) || next > (k === 1 ? high : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}

/** The violation of bytes that are not UTF-8, naming the first bad byte's offset; `what` names them. */
export function utf8Violation(bytes: Uint8Array, what: string, field = ''): Violation | undefined {
  if (isUtf8(bytes)) return undefined;
  const offset = Math.max(0, firstInvalidUtf8(bytes));
  const shown = [...bytes.subarray(offset, offset + 4)]
    .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
    .join(' ');
  return {
    field,
    rule: 'utf8',
    limit: 'UTF-8',
    message: `${what} is not valid UTF-8: bytes ${shown} at offset ${offset}`,
    received: shown,
  };
}

/** The text of a body, or a 400 when its bytes are not UTF-8 (whatever its charset says): never repaired. */
export function utf8Text(bytes: Buffer, what: string): string {
  const violation = utf8Violation(bytes, what);
  if (violation) throw invalid([violation]);
  return bytes.toString('utf8');
}
