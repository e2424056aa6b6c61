/**
 * The one event shape every API ends in. The UA Write API and Channel Analytics both build these,
 * and the writer and every storage engine take nothing else.
 */

export type EventCategory = 'custom' | 'search' | 'click' | 'view' | 'kpi';

export interface CanonicalEvent {
  /** UUIDv7 assigned by the server (or the client's idempotency key, once that exists). */
  id: string;
  org: string;
  category: EventCategory;
  eventType: string;
  eventValue: string | null;
  /** When the event happened, by the client's clock, if the client said. */
  eventTime: Date | null;
  /** When the client sent it, by the client's clock, if the client said. */
  sentTime: Date | null;
  /** When this server received it. */
  receivedTime: Date;
  /** The event time corrected for client clock skew; equals receivedTime when the client gave no times. */
  derivedTime: Date;
  language: string | null;
  username: string | null;
  userDisplayName: string | null;
  anonymous: boolean;
  clientId: string;
  visitorId: string;
  visitId: string;
  originContext: string | null;
  originLevel1: string | null;
  originLevel2: string | null;
  originLevel3: string | null;
  outcome: number | null;
  splitTestRunName: string | null;
  splitTestRunVersion: string | null;
  trackingId: string | null;
  lastSearchQueryUid: string | null;
  userAgent: string | null;
  correlationId: string | null;
  /** Which credential pushed it: an API key id, `master`, or `token:<user>`. */
  credentialId: string;
  /** Normalised customData: keys already lower-case `[a-z0-9_]`, values already strings. */
  customData: Record<string, string>;
}

const TIME_FIELDS = ['eventTime', 'sentTime', 'receivedTime', 'derivedTime'] as const;

/** A canonical event back from its JSON text (the ingest log): times become Dates again. */
export function reviveEvent(json: object): CanonicalEvent {
  const event = json as Record<string, unknown>;
  for (const field of TIME_FIELDS) {
    const value = event[field];
    event[field] = typeof value === 'string' ? new Date(value) : null;
  }
  return event as unknown as CanonicalEvent;
}
