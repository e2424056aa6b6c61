/**
 * What the SDK sends and what it is answered, typed from the server's own schemas (type-only imports, erased
 * by the build): a field the server does not know, or a value of the wrong type, fails at compile time.
 */
import type { Static } from '@sinclair/typebox';
import type { BatchResult } from '../../../src/batch/event-batch.ts';
import type {
  InitAnswer,
  InitLogAnalytics,
  LogAnalyticsEvent,
  LogAnswer,
} from '../../../src/channel/payloads.ts';
import type { ErrorBody } from '../../../src/core/errors.ts';
import type {
  ClickEventSchema,
  CustomEventSchema,
  SearchEventSchema,
  ViewEventSchema,
} from '../../../src/ua/schemas.ts';

export type CustomEvent = Static<typeof CustomEventSchema>;
export type SearchEvent = Static<typeof SearchEventSchema>;
export type ClickEvent = Static<typeof ClickEventSchema>;
export type ViewEvent = Static<typeof ViewEventSchema>;

/** The UA Write API's event kinds a batch carries, each with its v15 body. */
export interface UaEvents {
  custom: CustomEvent;
  search: SearchEvent;
  click: ClickEvent;
  view: ViewEvent;
}
export type UaKind = keyof UaEvents;

/**
 * What a `log…Event` method takes: the v15 body, with `language` optional because browsers fill it in
 * (navigator.language); in Node it is still required by the server, and debug mode says so before sending.
 */
export type EventInput<T> = Omit<T, 'language'> & { language?: string };

/** A batch item of kind `kpi`: a `logAnalyticsEvent` call whose `data.events` holds one KPI event. */
export type KpiItem = LogAnalyticsEvent & { eventId?: string };

/** One item of `POST /api/v1/events/batch`. */
export type BatchItem = { [K in UaKind]: { kind: K } & UaEvents[K] }[UaKind] | ({ kind: 'kpi' } & KpiItem);

/** A batch item as queued: its idempotency key assigned, and kept with it until it is answered. */
export type QueuedItem = BatchItem & { eventId: string };

/** An event's fate in a batch answer. */
export type { BatchResult };
/** The two fates a delivered event's promise resolves with. */
export type Stored = Exclude<BatchResult, { status: 'rejected' }>;

/** One violation of OpenUA's error body, and of a `rejected` batch result. */
export type Violation = NonNullable<ErrorBody['violations']>[number];
export type { ErrorBody, InitAnswer, InitLogAnalytics, LogAnalyticsEvent, LogAnswer };
