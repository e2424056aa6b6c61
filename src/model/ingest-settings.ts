/**
 * An organization's ingest settings: how long idempotency keys and rejections are kept, and how far back and
 * ahead an event's time may be. Each is null on the organization until an admin sets it; the default applies.
 */

/** The settings as an organization holds them: null is the default. */
export interface IngestSettingsOf {
  dedupWindowDays: number | null;
  rejectionRetentionDays: number | null;
  maxEventAgeDays: number | null;
  maxEventFutureMinutes: number | null;
}

/** What each ingest setting is when an organization has not set it. */
export const ORG_DEFAULTS = {
  dedupWindowDays: 7,
  rejectionRetentionDays: 30,
  maxEventAgeDays: 30,
  maxEventFutureMinutes: 10,
} as const;

export type IngestSettings = { [K in keyof typeof ORG_DEFAULTS]: number };

/** How long an idempotency key is remembered, in ms. */
export const dedupWindowMs = (settings: IngestSettings) => settings.dedupWindowDays * 86_400_000;

/** The organization's ingest settings, defaults filled in. */
export const ingestSettings = (org: IngestSettingsOf): IngestSettings => ({
  dedupWindowDays: org.dedupWindowDays ?? ORG_DEFAULTS.dedupWindowDays,
  rejectionRetentionDays: org.rejectionRetentionDays ?? ORG_DEFAULTS.rejectionRetentionDays,
  maxEventAgeDays: org.maxEventAgeDays ?? ORG_DEFAULTS.maxEventAgeDays,
  maxEventFutureMinutes: org.maxEventFutureMinutes ?? ORG_DEFAULTS.maxEventFutureMinutes,
});
