import type { IngestSettings } from '../model/ingest-settings.ts';

/**
 * The part of an event that is not in its body, the same for every API that takes events: who sends it, for
 * which organization and under its ingest settings (the dedup window and the time bounds derive from them),
 * and the clocks. `Caller` is the credential: auth/ sits above this layer and says who a caller is and what it
 * may do, while ingest knows a caller by its id alone.
 */
export interface IngestContext<Caller extends { id: string }> {
  org: string;
  credential: Caller;
  settings: IngestSettings;
  receivedAt: Date;
  /** When the client sent the request, by its clock (a batch's `sentAt`): it corrects the event's time. */
  sentAt?: Date;
  /**
   * The key of a request's one event given outside its body (the `Idempotency-Key` header, a batch item's
   * `eventId`): a key the event carries itself must be the same.
   */
  idempotencyKey?: string;
}
