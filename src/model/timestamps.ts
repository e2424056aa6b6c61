import type { Rule, Violation } from '../core/errors.ts';
import type { IngestSettings } from './ingest-settings.ts';

/** The client's clocks, when it gives them, and the server's. */
export interface EventTimes {
  eventTime: Date | null;
  sentTime: Date | null;
  receivedTime: Date;
}

/**
 * The time an event is counted at, corrected for the client's clock (as Snowplow's derived_tstamp and
 * Segment's timestamp): with both client times, the client's clock is assumed off by (sent - received), so
 * the event happened at received - (sent - event). With the event time alone, it is taken as given; with
 * neither, the server's receive time is the event's time.
 */
export function deriveTime({ eventTime, sentTime, receivedTime }: EventTimes): Date {
  if (!eventTime) return receivedTime;
  if (!sentTime) return eventTime;
  return new Date(receivedTime.getTime() - (sentTime.getTime() - eventTime.getTime()));
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/**
 * Whether a derived time falls inside the organization's bounds around the receive time; a violation on
 * `field` (where the client's time came from) otherwise, naming the bound and the times.
 */
export function timeBoundsViolation(
  derived: Date,
  received: Date,
  settings: Pick<IngestSettings, 'maxEventAgeDays' | 'maxEventFutureMinutes'>,
  field: string,
): Violation | undefined {
  const ahead = derived.getTime() - received.getTime();
  const beyond = (rule: Rule, limit: string, side: string): Violation => ({
    field,
    rule,
    limit,
    message: `the event's time (${derived.toISOString()}, corrected for the client's clock) is more than ${limit} ${side} the server received it (${received.toISOString()})`,
    received: derived.toISOString(),
  });
  if (-ahead > settings.maxEventAgeDays * DAY) {
    return beyond('maxEventAge', `${settings.maxEventAgeDays} days`, 'before');
  }
  if (ahead > settings.maxEventFutureMinutes * MINUTE) {
    return beyond('maxEventFuture', `${settings.maxEventFutureMinutes} minutes`, 'after');
  }
  return undefined;
}
