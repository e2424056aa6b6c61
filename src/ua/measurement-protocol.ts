import { Type } from '@sinclair/typebox';
import { printable } from '../core/validation.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { Payload } from './schemas.ts';

/**
 * `POST /analytics/collect`: measurement-protocol events, the GA-style short keys that coveo.analytics sends
 * for `coveoua('send', 'pageview' | 'event', …)` and its ecommerce and service plugins, as one JSON object.
 *
 * The parameters below have a column of their own; every other key (ec, ea, el, ev, pid, sr, pr1id, pa,
 * svc_action, the flattened `custom` keys…) is kept as custom data under its own name, lower-cased like
 * any customData key, so nothing a client sends is dropped.
 */
export const COLUMN_PARAMETERS = {
  cid: 'clientId',
  uid: 'username',
  ul: 'language',
  ua: 'userAgent',
  tm: 'eventTime',
  z: 'eventId',
  dl: 'location',
  dr: 'referrer',
  dt: 'title',
  contentIdKey: 'contentIdKey',
  contentId: 'contentIdValue',
  contentType: 'contentType',
  searchHub: 'originLevel1',
  tab: 'originLevel2',
  searchUid: 'lastSearchQueryUid',
  trackingId: 'trackingId',
} as const;

/** An optional identifier or name of 1 to n characters, as the v15 fields are (schemas.ts). */
const text = (maxLength: number) => Type.Optional(printable({ minLength: 1, maxLength }));

/**
 * The parameters whose value becomes the event's value, the first one given (collectFields): each has
 * eventValue's rule. They are also kept as custom data, under their own names.
 */
export const VALUE_PARAMETERS = ['ea', 'pa', 'svc_action'] as const;

/**
 * The parameters OpenUA reads, with the same rules as their v15 fields; the rest are custom data. `ul` is
 * required as `language` is on every other kind: the official client always sends it (its ec and svc plugins,
 * which are what send pageview and event hits to collect, add `navigator.language` to every hit).
 */
export const CollectEventSchema = Type.Object(
  {
    // The hit type (pageview, event, …): the event's type.
    t: printable({ minLength: 1, maxLength: 128 }),
    cid: Type.Optional(Type.String({ format: 'uuid' })),
    uid: text(128),
    ul: Type.String({ maxLength: 256, format: 'language' }),
    ua: text(1024),
    dl: text(4096),
    dr: text(4096),
    dt: text(1024),
    contentIdKey: text(128),
    contentId: text(1024),
    contentType: text(128),
    searchHub: text(128),
    tab: text(128),
    searchUid: text(256),
    trackingId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-z0-9_]+$' })),
    // When the event happened, in Unix milliseconds by the client's clock (before 2100-01-01).
    tm: Type.Optional(Type.Integer({ minimum: 0, maximum: 4_102_444_800_000 })),
    // The hit's own id, which the official client draws for each hit: its idempotency key.
    z: text(128),
    // The event action, the ecommerce action and the service action: eventValue's rule.
    ea: text(128),
    pa: text(128),
    svc_action: text(128),
    custom: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);

const WIRE_NAMES = new Map<string, string>(
  Object.entries(COLUMN_PARAMETERS).map(([wire, field]) => [field, wire]),
);

/** A v15 field's name as a measurement-protocol body spells it, for errors found after translation. */
export const wireName = (field: string) => WIRE_NAMES.get(field) ?? field;

/** The user the official client names when a page has none: not an identity, so not an impersonation. */
const NO_USER = 'anonymous';

/** A checked measurement-protocol payload in v15 field names, its other keys gathered as customData. */
export function fromMeasurementProtocol(wire: Payload): Payload {
  // The hit's own value parameters, not a `custom` object's keys of the same names (which have no rule).
  const hitValue = VALUE_PARAMETERS.map((p) => wire[p]).find((v) => v !== undefined && v !== null);
  const payload: Payload = { hitType: wire.t, hitValue };
  const customData: Payload = {};
  for (const [key, value] of Object.entries(wire)) {
    if (key === 't') continue;
    if (key === 'custom') Object.assign(customData, value as Payload);
    else if (key in COLUMN_PARAMETERS)
      payload[COLUMN_PARAMETERS[key as keyof typeof COLUMN_PARAMETERS]] = value;
    else customData[key] = value;
  }
  if (payload.username === NO_USER) delete payload.username;
  payload.customData = customData;
  return payload;
}

/**
 * The event type is the hit type; its value is what the hit did: the event action, the ecommerce action,
 * or the service action, whichever is given.
 */
export function collectFields(payload: Payload): Partial<CanonicalEvent> & { eventType: string } {
  return {
    eventType: payload.hitType as string,
    eventValue: (payload.hitValue as string | undefined) ?? null,
  };
}
