import type { Violation } from '../core/errors.ts';
import { newEventId } from '../model/event-id.ts';
import { type IngestSettings, type IngestSettingsOf, ingestSettings } from '../model/ingest-settings.ts';
import type {
  EntityTable,
  RecordFilter,
  RecordPage,
  RecordQuery,
  Storage,
  ValueCount,
} from '../storage/storage.ts';

/**
 * Rejected events are kept, so that an analyst can see what was refused and why instead of finding out
 * weeks later that data went missing. Each one holds the payload as received (cut to a size cap), who sent
 * it, where, when, and every violation.
 */
export interface Rejection {
  id: string;
  org: string;
  /** The route as registered (`/rest/ua/v15/analytics/custom`, `/api/v1/events/batch`). */
  route: string;
  /** For a batch item, its position in the batch; null for a single-event route. */
  item: number | null;
  receivedAt: Date;
  credentialId: string;
  /** The payload as JSON text, cut to the cap; `payloadBytes` says how long it was. */
  payload: string;
  payloadBytes: number;
  violations: Violation[];
  /** The violations' rules, for filtering and counting by rule. */
  rules: string[];
}

export const REJECTIONS: EntityTable<Rejection> = {
  name: 'rejections',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    route: 'text',
    item: 'integer',
    receivedAt: 'timestamp',
    credentialId: 'text',
    payload: 'text',
    payloadBytes: 'integer',
    violations: 'json',
    rules: 'text[]',
  },
};

export type RejectionInput = Omit<Rejection, 'id' | 'payload' | 'payloadBytes' | 'rules'> & {
  payload: unknown;
};

/** The payload's JSON text, cut to `cap` bytes at a character boundary. */
function capped(payload: unknown, cap: number): { text: string; bytes: number } {
  const text = typeof payload === 'string' ? payload : (JSON.stringify(payload) ?? 'null');
  const bytes = Buffer.byteLength(text);
  if (bytes <= cap) return { text, bytes };
  return {
    text: Buffer.from(text)
      .subarray(0, cap)
      .toString('utf8')
      .replace(/\uFFFD$/, ''),
    bytes,
  };
}

const FLUSH_MS = 200;
const FLUSH_ROWS = 1_000;
/** Beyond this many waiting to be written, new rejections are counted as dropped, not held. */
const MAX_BUFFERED = 100_000;

export class Rejections {
  private buffer: Rejection[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly sweeper: NodeJS.Timeout;
  /** Rejections not kept because the buffer was full (the store could not keep up). */
  dropped = 0;
  /** Told of every rejection, kept or dropped (the server's metrics). */
  private readonly listeners: ((route: string, rules: readonly string[]) => void)[] = [];

  constructor(
    private readonly storage: Storage,
    /** Every organization, each with its id and ingest settings (the organizations service). */
    private readonly organizations: { list(): Promise<(IngestSettingsOf & { id: string })[]> },
    private readonly payloadCap: number,
    private readonly onError: (message: string, cause: unknown) => void = () => undefined,
  ) {
    this.sweeper = setInterval(
      () => void this.sweep().catch((e) => onError('rejection sweep failed', e)),
      3_600_000,
    );
    this.sweeper.unref();
  }

  /** Calls `listener` with the route and the distinct rules of every rejection from now on. */
  onRecord(listener: (route: string, rules: readonly string[]) => void): void {
    this.listeners.push(listener);
  }

  /** Keeps a rejection; written within FLUSH_MS, off the request's path. */
  record(input: RejectionInput): void {
    if (this.listeners.length > 0) {
      const rules = [...new Set(input.violations.map((v) => v.rule))];
      for (const listener of this.listeners) listener(input.route, rules);
    }
    if (this.buffer.length >= MAX_BUFFERED) {
      this.dropped++;
      return;
    }
    const { text, bytes } = capped(input.payload, this.payloadCap);
    this.buffer.push({
      ...input,
      id: newEventId(input.receivedAt.getTime()),
      payload: text,
      payloadBytes: bytes,
      rules: [...new Set(input.violations.map((v) => v.rule))],
    });
    if (this.buffer.length >= FLUSH_ROWS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is buffered; resolves when everything recorded so far is in the store. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(async () => {
      if (rows.length === 0) return;
      try {
        await this.storage.upsertAll(rows.map((row) => ({ table: REJECTIONS, row })));
      } catch (cause) {
        this.dropped += rows.length;
        this.onError(`${rows.length} rejections could not be stored`, cause);
      }
    });
    return this.flushing;
  }

  async list(org: string, query: RecordQuery): Promise<RecordPage<Rejection>> {
    await this.flush();
    return this.storage.query(REJECTIONS, { org }, query);
  }

  async countByRule(org: string, where: RecordFilter | undefined): Promise<ValueCount[]> {
    await this.flush();
    return this.storage.countBy(REJECTIONS, { org }, where, 'rules');
  }

  /** Deletes each organization's rejections older than its retention; answers how many. */
  async sweep(now = new Date()): Promise<number> {
    let deleted = 0;
    for (const org of await this.organizations.list()) {
      const { rejectionRetentionDays }: IngestSettings = ingestSettings(org);
      const cutoff = new Date(now.getTime() - rejectionRetentionDays * 86_400_000);
      deleted += await this.storage.remove(
        REJECTIONS,
        { org: org.id },
        {
          kind: 'compare',
          op: 'lt',
          field: 'receivedAt',
          value: cutoff,
        },
      );
    }
    return deleted;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.flush();
  }
}
