import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid, OpenUAError } from '../core/errors.ts';
import { parseJson, utf8Text, utf8Violation } from '../core/json.ts';

/** Methods whose requests carry no body, whatever their Content-Type says. */
const BODILESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

type Done = (error: Error | null, value?: unknown) => void;

/**
 * Parses a JSON body: its bytes must be UTF-8 (never repaired), its JSON well-formed, and it must meet the
 * body rules of json.ts (depth, no NUL, no lone surrogate). Each refusal is a 400 with the reason.
 */
function jsonParser(mediaType: string) {
  return (request: FastifyRequest, body: string | Buffer, done: Done) => {
    let text: string;
    try {
      text = utf8Text(body as Buffer, `the ${mediaType} body`);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (text.trim() === '') {
      // The official client's deleteHttpOnlyVisitorId() sends `DELETE /visit` as application/json, empty.
      if (BODILESS.has(request.method)) {
        done(null, undefined);
        return;
      }
      done(invalid([{ field: '', rule: 'json', message: `the ${mediaType} body is empty`, received: '' }]));
      return;
    }
    try {
      done(null, parseJson(text));
    } catch (error) {
      if (error instanceof OpenUAError) {
        done(error);
        return;
      }
      done(
        invalid([
          {
            field: '',
            rule: 'json',
            message: `the ${mediaType} body must be JSON: ${(error as Error).message}`,
            received: text.slice(0, 256),
          },
        ]),
      );
    }
  };
}

const PLUS = 0x2b;
const PERCENT = 0x25;

const hexValue = (byte: number | undefined) =>
  byte === undefined
    ? -1
    : byte >= 0x30 && byte <= 0x39
      ? byte - 0x30
      : byte >= 0x41 && byte <= 0x46
        ? byte - 0x37
        : byte >= 0x61 && byte <= 0x66
          ? byte - 0x57
          : -1;

/** `application/x-www-form-urlencoded` percent-decoding of one name or value, to bytes (WHATWG URL). */
function percentDecode(bytes: Buffer): Buffer {
  if (!bytes.includes(PERCENT) && !bytes.includes(PLUS)) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    const high = byte === PERCENT ? hexValue(bytes[i + 1]) : -1;
    const low = high >= 0 ? hexValue(bytes[i + 2]) : -1;
    if (low >= 0) {
      out[length++] = high * 16 + low;
      i += 2;
    } else {
      // A `%` not followed by two hex digits is itself, as browsers read it.
      out[length++] = byte === PLUS ? 0x20 : byte;
    }
  }
  return out.subarray(0, length);
}

/**
 * Parses a form body: its bytes, and each name and value once percent-decoded, must be UTF-8 (browsers and
 * the official client's beacons encode UTF-8); a name given twice holds the list of its values. The object
 * has no prototype, so a name such as `__proto__` is data.
 */
function formParser(_request: FastifyRequest, body: string | Buffer, done: Done) {
  const bytes = body as Buffer;
  const raw = utf8Violation(bytes, 'the application/x-www-form-urlencoded body');
  if (raw) {
    done(invalid([raw]));
    return;
  }
  const form: Record<string, string | string[]> = Object.create(null);
  for (let start = 0; start <= bytes.length; ) {
    let end = bytes.indexOf(0x26, start);
    if (end === -1) end = bytes.length;
    const pair = bytes.subarray(start, end);
    start = end + 1;
    if (pair.length === 0) continue;
    const equals = pair.indexOf(0x3d);
    const nameBytes = percentDecode(equals === -1 ? pair : pair.subarray(0, equals));
    const valueBytes = percentDecode(equals === -1 ? Buffer.alloc(0) : pair.subarray(equals + 1));
    const name = nameBytes.toString('utf8');
    const problem =
      utf8Violation(nameBytes, 'a form field name, once percent-decoded,') ??
      utf8Violation(valueBytes, `the form field "${name}", once percent-decoded,`, name);
    if (problem) {
      done(invalid([problem]));
      return;
    }
    const value = valueBytes.toString('utf8');
    const earlier = form[name];
    form[name] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
  }
  done(null, form);
}

/**
 * The bodies the official UA client sends: JSON, `text/plain` holding JSON (which browsers send
 * without a CORS preflight), and form-encoded beacons. Anything else is 415. Both JSON shapes go
 * through one parser, so they refuse the same things with the same words; every shape is read as bytes,
 * so a body that is not UTF-8 is refused rather than stored with U+FFFD in place of what was sent.
 */
export async function installContentTypes(app: FastifyInstance): Promise<void> {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, jsonParser('application/json'));
  app.addContentTypeParser('text/plain', { parseAs: 'buffer' }, jsonParser('text/plain'));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, formParser);
}
