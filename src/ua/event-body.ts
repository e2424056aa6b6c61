import { invalid } from '../server/errors.ts';
import { parseJson } from '../server/json.ts';

/**
 * The shapes one UA event arrives in, all sent by the official client:
 * - JSON (`application/json`, or `text/plain` holding JSON, which Fastify has already parsed);
 * - a beacon: `application/x-www-form-urlencoded` with `<type>Event=<JSON>` and maybe `access_token`.
 * Answers the event object, or 400 naming what is wrong with the body.
 */
export function eventPayload(body: unknown, eventType: string, isForm: boolean): Record<string, unknown> {
  let payload = body;
  if (isForm) {
    const field = `${eventType}Event`;
    const form = (body ?? {}) as Record<string, unknown>;
    const raw = form[field];
    if (typeof raw !== 'string') {
      throw invalid([
        {
          field,
          rule: 'required',
          message: `a form-encoded body must carry the event as JSON in "${field}"`,
          received: Object.keys(form),
        },
      ]);
    }
    try {
      payload = parseJson(raw);
    } catch (error) {
      throw invalid([
        { field, rule: 'json', message: (error as Error).message, received: raw.slice(0, 256) },
      ]);
    }
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw invalid([
      {
        field: '',
        rule: 'type',
        limit: 'object',
        message: 'the event must be a JSON object',
        received: Array.isArray(payload) ? 'array' : payload === null ? null : typeof payload,
      },
    ]);
  }
  // The official clients drop empty values; others send null for "not given". Both mean absent.
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== null));
}
