import { Type } from '@sinclair/typebox';
import { invalid, OpenUAError, type Violation } from '../core/errors.ts';
import { parseJson } from '../core/json.ts';
import type { Payload } from './schemas.ts';
import { SEARCHES_MAX_ITEMS } from './schemas.ts';

const beaconField = (eventType: string) => `${eventType}Event`;

/**
 * A beacon's form body: the event in `<type>Event`, as the JSON text of the JSON body, and the credential a
 * beacon cannot send as a header.
 */
export const beaconFormSchema = (eventType: string) =>
  Type.Object(
    {
      [beaconField(eventType)]: Type.String({
        description: `The event, as JSON text (the JSON body's object)`,
      }),
      access_token: Type.Optional(
        Type.String({ description: 'The credential: an API key or a search token' }),
      ),
    },
    { additionalProperties: true },
  );

/**
 * The shapes one UA event arrives in, all sent by the official client:
 * - JSON (`application/json`, or `text/plain` holding JSON, which Fastify has already parsed);
 * - a beacon: `application/x-www-form-urlencoded` with `<type>Event=<JSON>` and maybe `access_token`.
 * Answers the event object, or 400 naming what is wrong with the body.
 */
export function eventPayload(body: unknown, eventType: string, isForm: boolean): Payload {
  let payload = body;
  if (isForm) {
    const field = beaconField(eventType);
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
      // The body rules (depth, NUL, lone surrogates) name their place under the field: `customEvent.x`.
      payload = parseJson(raw, field);
    } catch (error) {
      if (error instanceof OpenUAError) throw error;
      throw invalid([
        { field, rule: 'json', message: (error as Error).message, received: raw.slice(0, 256) },
      ]);
    }
  }
  const violation = notAnObject(payload, '');
  if (violation) throw invalid([violation]);
  return withoutAbsentValues(payload as Payload);
}

/** `POST /searches`: a JSON array of 1 to SEARCHES_MAX_ITEMS search events. */
export function searchesPayload(body: unknown): Payload[] {
  if (!Array.isArray(body)) {
    throw invalid([
      {
        field: '',
        rule: 'type',
        limit: 'array',
        message: 'must be a JSON array of search events',
        received: body === null ? null : typeof body,
      },
    ]);
  }
  if (body.length === 0 || body.length > SEARCHES_MAX_ITEMS) {
    throw invalid([
      {
        field: '',
        rule: body.length === 0 ? 'minItems' : 'maxItems',
        limit: body.length === 0 ? 1 : SEARCHES_MAX_ITEMS,
        message: `must hold 1 to ${SEARCHES_MAX_ITEMS} search events`,
        received: body.length,
      },
    ]);
  }
  const violations = body.flatMap((item, index) => notAnObject(item, `[${index}]`) ?? []);
  if (violations.length > 0) throw invalid(violations);
  return body.map((item) => withoutAbsentValues(item as Payload));
}

function notAnObject(value: unknown, field: string): Violation | undefined {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return undefined;
  return {
    field,
    rule: 'type',
    limit: 'object',
    message: 'the event must be a JSON object',
    received: Array.isArray(value) ? 'array' : value === null ? null : typeof value,
  };
}

/**
 * The official clients drop empty values; others send null for "not given". Both mean absent. The
 * official client adds lastSearchQueryUid after dropping empties, so it sends "" when no search ran yet.
 */
function withoutAbsentValues(payload: Payload): Payload {
  // Most bodies have nothing absent: copy only those that do (this runs for every event).
  let hasAbsent = false;
  for (const field in payload) if (isAbsent(field, payload[field])) hasAbsent = true;
  if (!hasAbsent) return payload;
  const present: Payload = {};
  for (const field in payload) if (!isAbsent(field, payload[field])) present[field] = payload[field];
  return present;
}

const isAbsent = (field: string, value: unknown) =>
  value === null || (field === 'lastSearchQueryUid' && value === '');
