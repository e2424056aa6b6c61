import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { EventReader } from './event-reader.ts';
import type { GroupCommit } from './group-commit.ts';
import type { IdempotencyIndex } from './idempotency.ts';

/** What became of one submitted event: stored under its id, or a duplicate of the event stored first. */
export type Outcome = { status: 'accepted'; id: string } | { status: 'duplicate'; id: string };

/**
 * The last step of every event route: idempotency keys, then the durable commit. Events without a key, and
 * those whose key is new, are committed together (all or none, as `GroupCommit.submit`); the others are
 * answered with the id of the first event that carried their key.
 */
export class Intake {
  constructor(
    private readonly writer: GroupCommit,
    private readonly keys: IdempotencyIndex,
    private readonly reader: EventReader,
  ) {}

  /** Sheds (503) a request of `count` events now if the writer could not take them. */
  admit(count: number): void {
    this.writer.admit(count);
  }

  /** A stored event by id (loading what waits in the ingest log first): what a duplicate is answered with. */
  stored(org: string, id: string): Promise<CanonicalEvent | undefined> {
    return this.reader.byId(org, id);
  }

  async submit(org: string, events: readonly CanonicalEvent[], dedupWindowMs: number): Promise<Outcome[]> {
    if (!events.some(hasKey)) {
      // Most events carry no key: nothing to claim, one commit.
      await this.writer.submit(events);
      return events.map(acceptedOutcome);
    }
    const outcomes: Outcome[] = new Array(events.length);
    let pending = events.map((event, index) => ({ event, index }));
    // A key claimed by a request whose commit then failed is free again: such events go round once more.
    while (pending.length > 0) {
      const fresh: CanonicalEvent[] = [];
      const claimed: string[] = [];
      const waits: { index: number; event: CanonicalEvent; settled: Promise<boolean>; id: string }[] = [];
      for (const { event, index } of pending) {
        const key = event.idempotencyKey;
        if (!key) {
          fresh.push(event);
          outcomes[index] = { status: 'accepted', id: event.id };
          continue;
        }
        const claim = this.keys.claim(org, key, event.id, event.receivedTime.getTime(), dedupWindowMs);
        if (claim.status === 'claimed') {
          fresh.push(event);
          claimed.push(key);
          outcomes[index] = { status: 'accepted', id: event.id };
        } else if (claim.status === 'duplicate') {
          outcomes[index] = { status: 'duplicate', id: claim.id };
        } else {
          waits.push({ index, event, settled: claim.settled, id: claim.id });
        }
      }
      try {
        if (fresh.length > 0) await this.writer.submit(fresh);
      } catch (error) {
        this.keys.settle(org, claimed, false);
        throw error;
      }
      this.keys.settle(org, claimed, true);
      pending = [];
      for (const wait of waits) {
        if (await wait.settled) outcomes[wait.index] = { status: 'duplicate', id: wait.id };
        else pending.push({ event: wait.event, index: wait.index });
      }
    }
    return outcomes;
  }
}

const hasKey = (event: CanonicalEvent) => Boolean(event.idempotencyKey);
const acceptedOutcome = (event: CanonicalEvent): Outcome => ({ status: 'accepted', id: event.id });
