import { Type } from '@sinclair/typebox';
import { addFormat } from '../server/validation.ts';
import { isLanguage } from './language.ts';

addFormat(
  'language',
  isLanguage,
  'must be an ISO 639-1 language code, optionally followed by a region or script (en, en-US, zh-Hant)',
);

/** A string of 1 to n characters. */
const text = (maxLength: number, extra: Record<string, unknown> = {}) =>
  Type.String({ minLength: 1, maxLength, ...extra });

/**
 * Fields every UA v15 event may carry, with the limits of the reference (shared/reference/coveo-ua.md §2).
 * Where the reference gives no limit (userAgent, trackingId, lastSearchQueryUid), OpenUA sets one and
 * documents it, so no field is unbounded.
 */
export const commonEventFields = {
  // The format already refuses an empty string; minLength would only repeat it.
  language: Type.String({ maxLength: 256, format: 'language' }),
  anonymous: Type.Optional(Type.Boolean()),
  lastSearchQueryUid: Type.Optional(text(128)),
  originContext: Type.Optional(text(128)),
  originLevel1: Type.Optional(text(128)),
  originLevel2: Type.Optional(text(128)),
  originLevel3: Type.Optional(text(128)),
  outcome: Type.Optional(Type.Integer({ minimum: -5, maximum: 5 })),
  splitTestRunName: Type.Optional(text(128)),
  splitTestRunVersion: Type.Optional(text(128)),
  trackingId: Type.Optional(text(128, { pattern: '^[a-z0-9_]+$' })),
  userDisplayName: Type.Optional(text(128)),
  username: Type.Optional(text(128)),
  clientId: Type.Optional(Type.String({ format: 'uuid' })),
  userAgent: Type.Optional(text(1024)),
  customData: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};

/** `POST /analytics/custom`. Unknown fields are allowed (the official clients add some) and not stored. */
export const CustomEventSchema = Type.Object(
  {
    eventType: text(128),
    eventValue: text(128),
    ...commonEventFields,
  },
  { additionalProperties: true },
);
