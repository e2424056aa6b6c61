import { type CanonicalEvent, NO_UA_FIELDS } from '../../src/model/canonical-event.ts';
import { newEventId } from '../../src/model/event-id.ts';

/** A complete canonical event for tests that write to storage below the HTTP layer. */
export function canonicalEvent(extra: Partial<CanonicalEvent> = {}): CanonicalEvent {
  const now = new Date();
  return {
    id: newEventId(),
    org: 'test',
    category: 'custom',
    eventType: 'test',
    eventValue: 'v',
    eventTime: null,
    sentTime: null,
    receivedTime: now,
    derivedTime: now,
    ...NO_UA_FIELDS,
    language: 'en',
    username: 'anonymous',
    userDisplayName: null,
    anonymous: false,
    clientId: 'c',
    visitorId: 'c',
    visitId: 'v',
    correlationId: null,
    credentialId: 'test',
    customData: {},
    ...extra,
  };
}
