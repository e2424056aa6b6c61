import type { CanonicalEvent } from '../model/canonical-event.ts';
import type {
  AggregateQuery,
  AggregateResult,
  RecordFilter,
  RecordPage,
  RecordQuery,
  Storage,
  UnitQuery,
} from '../storage/storage.ts';
import type { GroupCommit } from './group-commit.ts';

/**
 * The one way to read stored events. Acknowledged events may still wait in the ingest log: every read here
 * first loads them, so a reader sees every event answered before it asked (read-your-writes), and no caller has
 * to remember to.
 */
export class EventReader {
  constructor(
    private readonly storage: Storage,
    private readonly writer: Pick<GroupCommit, 'sync'>,
  ) {}

  async queryEvents(org: string, query: RecordQuery): Promise<RecordPage<CanonicalEvent>> {
    await this.writer.sync();
    return this.storage.queryEvents(org, query);
  }

  /** One event by id, or undefined. */
  async byId(org: string, id: string): Promise<CanonicalEvent | undefined> {
    const { rows } = await this.queryEvents(org, {
      where: { kind: 'compare', op: 'eq', field: 'id', value: id },
      limit: 1,
    });
    return rows[0];
  }

  async aggregateEvents(org: string, query: AggregateQuery): Promise<AggregateResult> {
    await this.writer.sync();
    return this.storage.aggregateEvents(org, query);
  }

  async aggregateUnits(org: string, query: UnitQuery): Promise<AggregateResult> {
    await this.writer.sync();
    return this.storage.aggregateUnits(org, query);
  }

  /** Deletes the matching events, the ones still in the ingest log included; answers how many. */
  async deleteEvents(org: string, where: RecordFilter): Promise<number> {
    await this.writer.sync();
    return this.storage.deleteEvents(org, where);
  }
}
