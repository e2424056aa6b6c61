import { randomUUID } from 'node:crypto';
import { SETTINGS } from '../core/config.ts';
import type { Storage } from '../storage/storage.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

export const VISITOR_COOKIE = 'coveo_visitorId';

export interface VisitorSources {
  /** `clientId` from the body: the modern way to name the visitor, and it wins. */
  clientId?: string;
  /** `?visitor=` (or the beacon's `?visitorId=`). */
  visitorParam?: string;
  /** The visitor cookie. */
  cookie?: string;
  prioritizeVisitorParameter: boolean;
}

/**
 * Picks the visitor as the reference says: clientId first; then the cookie, unless
 * `prioritizeVisitorParameter=true` puts the query parameter first; otherwise a new visitor.
 * Values that are not UUIDs are ignored rather than trusted, because they become the next clientId.
 */
export function resolveVisitor(sources: VisitorSources): {
  visitorId: string;
  clientId: string;
  isNew: boolean;
} {
  if (sources.clientId) return { visitorId: sources.clientId, clientId: sources.clientId, isNew: false };
  const ordered = sources.prioritizeVisitorParameter
    ? [sources.visitorParam, sources.cookie]
    : [sources.cookie, sources.visitorParam];
  const known = ordered.find((v) => v !== undefined && isUuid(v));
  if (known) return { visitorId: known, clientId: known, isNew: false };
  const fresh = randomUUID();
  return { visitorId: fresh, clientId: fresh, isNew: true };
}

const visitKey = (org: string, visitorId: string) => `${org}\u0000${visitorId}`;

interface OpenVisit {
  visitId: string;
  lastSeen: number;
  /** Ended by `DELETE /visit`: the next event opens a new visit, whatever the store says. */
  ended?: boolean;
}

/**
 * Of this server's copy of a visit and the store's, the one seen last: the store's is newer when another server
 * took the visitor's later events. An ended mark is kept against the store, which cannot know of it.
 */
function newest(local: OpenVisit | undefined, stored: OpenVisit | undefined): OpenVisit | undefined {
  if (!local || !stored) return local ?? stored;
  if (local.ended) return local.lastSeen >= stored.lastSeen ? local : stored;
  return stored.lastSeen > local.lastSeen ? stored : local;
}

/**
 * Visits: a visitor's events belong to one visit until 30 minutes (configurable) pass without one.
 * Open visits are kept in memory. Whenever this copy would open a new visit (a miss: the first event since
 * start-up; or an entry past the timeout) the newest stored event of the visitor is read first, so neither a
 * restart nor another server sharing the store splits a visit: the visitor's events sent meanwhile to another
 * server continue the visit there, and are in the store once that server has loaded them (its load interval).
 *
 * At most `maxVisits` visitors are kept (OPENUA_OPEN_VISITS); beyond it the one seen longest ago is forgotten,
 * and its next event is a miss like the first one after a restart: the store says which visit it continues.
 */
export class VisitTracker {
  /** By the time each visitor was last seen here, oldest first (a Map iterates in insertion order). */
  private readonly open = new Map<string, OpenVisit>();
  private readonly lookups = new Map<string, Promise<OpenVisit | undefined>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly storage: Storage,
    private readonly timeoutMs: number,
    private readonly maxVisits: number = SETTINGS.openVisits.read({}),
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(timeoutMs, 60_000));
    this.sweeper.unref();
  }

  /** The visit an event at `at` belongs to, opening a new one when the last is over. */
  async visit(org: string, visitorId: string, at: Date, isNewVisitor: boolean): Promise<string> {
    const key = visitKey(org, visitorId);
    const now = at.getTime();
    let current = this.open.get(key);
    if (!isNewVisitor && (!current || (!current.ended && now - current.lastSeen > this.timeoutMs))) {
      const stored = await this.lookup(key, org, visitorId);
      // Another request for the same visitor may have opened a visit while this one waited.
      current = newest(this.open.get(key), stored);
    }
    if (!current || current.ended || now - current.lastSeen > this.timeoutMs) {
      current = { visitId: randomUUID(), lastSeen: now };
    } else {
      current = { visitId: current.visitId, lastSeen: Math.max(current.lastSeen, now) };
    }
    this.keep(key, current);
    return current.visitId;
  }

  /**
   * Ends the visitor's visit now, answering the visit it ended (if one was open here). The mark is kept for
   * a whole timeout, so that a lookup in the store cannot bring the ended visit back.
   */
  async end(org: string, visitorId: string, at: Date): Promise<string | undefined> {
    const key = visitKey(org, visitorId);
    let current = this.open.get(key);
    if (!current || (!current.ended && at.getTime() - current.lastSeen > this.timeoutMs)) {
      current = newest(this.open.get(key), await this.lookup(key, org, visitorId));
    }
    this.keep(key, { visitId: '', lastSeen: at.getTime(), ended: true });
    return current && !current.ended && at.getTime() - current.lastSeen <= this.timeoutMs
      ? current.visitId
      : undefined;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Visitors whose visit is kept here now. */
  get size(): number {
    return this.open.size;
  }

  /** Keeps `visit` as the visitor's latest, moved to the end, and forgets the one seen longest ago beyond the bound. */
  private keep(key: string, visit: OpenVisit): void {
    this.open.delete(key);
    this.open.set(key, visit);
    if (this.open.size > this.maxVisits) this.open.delete(this.open.keys().next().value as string);
  }

  private lookup(key: string, org: string, visitorId: string): Promise<OpenVisit | undefined> {
    let pending = this.lookups.get(key);
    if (!pending) {
      pending = this.storage
        .lastVisit(org, visitorId)
        .then((last) => (last ? { visitId: last.visitId, lastSeen: last.lastSeen.getTime() } : undefined))
        .finally(() => this.lookups.delete(key));
      this.lookups.set(key, pending);
    }
    return pending;
  }

  private sweep(): void {
    const cutoff = Date.now() - this.timeoutMs;
    for (const [key, visit] of this.open) if (visit.lastSeen < cutoff) this.open.delete(key);
  }
}
