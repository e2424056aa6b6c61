/**
 * Ids recently looked up in the store and not found, so that asking again costs no round trip: a request with
 * a made-up credential would otherwise cost the store a read each time. Bounded (the oldest goes first) and
 * short-lived, so that an id created through another server sharing the store is found within `ttlMs`; the
 * owner forgets an id the moment it creates it.
 */
export class NegativeCache {
  /** Id → when it was found missing. A Map keeps insertion order: the first entry is the oldest. */
  private readonly missing = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly capacity: number,
  ) {}

  /** Whether `id` was found missing less than `ttlMs` ago. */
  has(id: string, now = Date.now()): boolean {
    const at = this.missing.get(id);
    if (at === undefined) return false;
    if (now - at < this.ttlMs) return true;
    this.missing.delete(id);
    return false;
  }

  add(id: string, now = Date.now()): void {
    this.missing.delete(id);
    this.missing.set(id, now);
    while (this.missing.size > this.capacity) {
      const oldest = this.missing.keys().next().value as string;
      this.missing.delete(oldest);
    }
  }

  delete(id: string): void {
    this.missing.delete(id);
  }
}
