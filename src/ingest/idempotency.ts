import { SETTINGS } from '../core/config.ts';
import type { KeyedEvent } from '../storage/storage.ts';

/**
 * Idempotency keys: the first event that carries a key (per organization) is stored; every later one
 * inside the window is answered `duplicate`, with the first one's id, and is not stored again.
 *
 * The index is in memory, loaded from the store at start-up (after the ingest log is recovered into it), so
 * it holds across restarts. A key is claimed synchronously before its event is submitted, so concurrent
 * requests with the same key cannot both store it: the later one waits for the first one's commit.
 *
 * Several servers sharing one store each keep their own index, and never ask the store about a key they miss:
 * that would cost a store read for nearly every event (the SDK puts a key on each). None is needed for counts:
 * a keyed event's id is drawn from its organization and key (keyedEventId), so the copies two servers store
 * share one id and every read counts them once (the store keeps one event per id). What a miss changes is the
 * answer: a server that has not seen the key answers `accepted`, with the same id another server answered
 * `duplicate` with. A server learns the keys the others stored when it starts (`load`, from the store).
 *
 * The index holds at most `maxKeys` keys (OPENUA_IDEMPOTENCY_KEYS): the SDK puts a key on every event, and a
 * window is days long, so without a bound it would grow with the traffic of a whole window. Beyond it the
 * oldest settled key is forgotten first, which is the same miss as another server's key: stored once, answered
 * `accepted`. A key whose first event is still being committed is never forgotten (its duplicates wait on it).
 */

interface Entry {
  id: string;
  /** When the window of this key ends, in ms: first seen + the organization's window then. */
  expiresAt: number;
  /** Until the first event's commit settles: resolves true once it is durable, false if it failed. */
  settled?: Promise<boolean>;
  settle?: (committed: boolean) => void;
}

export type Claim =
  | { status: 'claimed' }
  | { status: 'duplicate'; id: string }
  | { status: 'pending'; id: string; settled: Promise<boolean> };

const entryKey = (org: string, key: string) => `${org}\u0000${key}`;

export class IdempotencyIndex {
  /** In the order keys were claimed (a Map iterates in insertion order): the first settled entry is the oldest. */
  private readonly entries = new Map<string, Entry>();
  private forgottenKeys = 0;

  constructor(private readonly maxKeys: number = SETTINGS.idempotencyKeys.read({})) {}

  /** Remembers keys already stored (at start-up, oldest first), each for the window from its first event. */
  load(events: Iterable<KeyedEvent>, windowMs: (org: string) => number): void {
    for (const { org, key, id, receivedTime } of events) {
      const expiresAt = receivedTime.getTime() + windowMs(org);
      const known = this.entries.get(entryKey(org, key));
      // Oldest first: an event with a known key was stored only because the earlier one's window had ended,
      // so it opened the window that counts now.
      if (!known || receivedTime.getTime() >= known.expiresAt) {
        this.entries.delete(entryKey(org, key));
        this.entries.set(entryKey(org, key), { id, expiresAt });
      }
    }
    this.forgetOldest();
  }

  /**
   * Claims `key` for the event `id` received at `now`, unless it was seen inside its window. Synchronous:
   * nothing can claim the same key between the check and the claim.
   */
  claim(org: string, key: string, id: string, now: number, windowMs: number): Claim {
    const name = entryKey(org, key);
    const known = this.entries.get(name);
    if (known && now < known.expiresAt) {
      return known.settled
        ? { status: 'pending', id: known.id, settled: known.settled }
        : { status: 'duplicate', id: known.id };
    }
    let settle: (committed: boolean) => void = () => undefined;
    const settled = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    // Deleted first, so a key claimed again goes to the end: the newest claim is the last to be forgotten.
    this.entries.delete(name);
    this.entries.set(name, { id, expiresAt: now + windowMs, settled, settle });
    this.forgetOldest();
    return { status: 'claimed' };
  }

  /** Ends claims: a committed key is remembered for its window; a failed one is free to be claimed again. */
  settle(org: string, keys: readonly string[], committed: boolean): void {
    for (const key of keys) {
      const name = entryKey(org, key);
      const entry = this.entries.get(name);
      if (!entry?.settle) continue;
      entry.settle(committed);
      if (committed) this.entries.set(name, { id: entry.id, expiresAt: entry.expiresAt });
      else this.entries.delete(name);
    }
  }

  /** Forgets keys whose window has ended; answers how many. */
  sweep(now = Date.now()): number {
    let swept = 0;
    for (const [name, entry] of this.entries) {
      if (!entry.settle && entry.expiresAt <= now) {
        this.entries.delete(name);
        swept++;
      }
    }
    return swept;
  }

  /**
   * Forgets an organization's settled keys that contain `text` (a person's identifier, on erasure); answers how
   * many. A key being committed is kept: its event is erased with the others once it is in the store.
   */
  forgetContaining(org: string, text: string): number {
    const prefix = entryKey(org, '');
    let forgotten = 0;
    for (const [name, entry] of this.entries) {
      if (entry.settle || !name.startsWith(prefix) || !name.slice(prefix.length).includes(text)) continue;
      this.entries.delete(name);
      forgotten++;
    }
    return forgotten;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Keys forgotten since start because the index was full. */
  get forgotten(): number {
    return this.forgottenKeys;
  }

  /** Down to `maxKeys`, oldest first, passing over keys still being committed. */
  private forgetOldest(): void {
    if (this.entries.size <= this.maxKeys) return;
    for (const [name, entry] of this.entries) {
      if (this.entries.size <= this.maxKeys) return;
      if (entry.settle) continue;
      this.entries.delete(name);
      this.forgottenKeys++;
    }
  }
}
