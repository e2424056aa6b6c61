import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue,
  listValue,
  VARCHAR,
} from '@duckdb/node-api';
import bindings from '@duckdb/node-bindings';
import type { CanonicalEvent } from '../../model/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import type { SerialConnection } from './connection.ts';
import { DIRTY_TABLE, marksOf } from './kpi-units.ts';
import { COLUMN_TYPES, TEXT_LIST, timestamp, toValue } from './values.ts';

/** Rows per data chunk, and between two yields to the event loop (a few ms of work). */
const CHUNK_ROWS = 512;

/** One column of the events table: its type, and how an event fills it. */
interface EventSlot {
  type: DuckDBType;
  value: (event: CanonicalEvent) => DuckDBValue;
}

function eventSlot(column: string): EventSlot {
  if (column === CUSTOM_KEYS_COLUMN) {
    return { type: TEXT_LIST, value: (event) => listValue(Object.keys(event.customData)) };
  }
  if (column === CUSTOM_VALUES_COLUMN) {
    return { type: TEXT_LIST, value: (event) => listValue(Object.values(event.customData)) };
  }
  const known = EVENT_COLUMNS.find((c) => c.column === column);
  // A column this version does not know (written by a newer one) is left null.
  if (!known) return { type: VARCHAR, value: () => null };
  const { field, type } = known;
  return { type: COLUMN_TYPES[type], value: (event) => toValue(type, event[field]) };
}

/** The layout of a table created by this version: every known column, then customData's two lists. */
const EVENT_SLOTS: readonly EventSlot[] = [
  ...EVENT_COLUMNS.map((c) => eventSlot(c.column)),
  eventSlot(CUSTOM_KEYS_COLUMN),
  eventSlot(CUSTOM_VALUES_COLUMN),
];

/**
 * Events appended to the events table on the write connection, each load in one transaction with the KPI unit
 * marks it makes. A load stores only the events whose id the table does not hold yet (see unstored), so a
 * writer that replays its log after a crash stores nothing twice.
 */
export class EventAppends {
  /** How each column of the events table, in the store's order, is filled from an event (set by layOut). */
  private layout: readonly EventSlot[] = EVENT_SLOTS;
  /**
   * The one chunk every load fills, again and again. A chunk's native memory (about 1.5 MB: every column at
   * DuckDB's full vector size) is freed only when V8 collects its small JS wrapper, which V8 does not hurry
   * to do: a chunk made per 512 rows left hundreds of MB of them waiting under a flood.
   */
  private chunk: DuckDBDataChunk | undefined;
  /**
   * The latest received time the events table holds (ms), read from it once, then kept by each load: one
   * process holds the file, and its appends are the only writes that add received times (see unstored).
   * Undefined until read, and again after a change that may have moved one (forgetLatest).
   */
  private latestStored: number | undefined;

  /** `marked`: called after a load that marked KPI units is committed. */
  constructor(
    private readonly writer: SerialConnection,
    private readonly marked: () => void,
  ) {}

  /** Rows are appended in the store's own column order (`columns`), which an older store may have in another order. */
  layOut(columns: readonly string[]): void {
    this.layout = columns.map(eventSlot);
    this.chunk = undefined;
  }

  append(events: readonly CanonicalEvent[]): Promise<void> {
    return this.writer.run((connection) => this.inTransaction(connection, events, true));
  }

  /** A change to stored events may have moved their received times: read the latest again before the next load. */
  forgetLatest(): void {
    this.latestStored = undefined;
  }

  /** Each event appended alone in a transaction that is then rolled back: nothing is written. */
  refused(events: readonly CanonicalEvent[]): Promise<number[]> {
    return this.writer.run(async (connection) => {
      const refused: number[] = [];
      for (const [index, event] of events.entries()) {
        await this.inTransaction(connection, [event], false).catch(() => refused.push(index));
      }
      return refused;
    });
  }

  private reusedChunk(): DuckDBDataChunk {
    this.chunk ??= DuckDBDataChunk.create(this.layout.map((slot) => slot.type));
    return this.chunk;
  }

  /**
   * append's transaction; `commit: false` rolls it back once every row is in (a dry run, which appends every
   * event given: it asks whether the store would refuse them, not whether it holds them).
   */
  private async inTransaction(
    writer: DuckDBConnection,
    given: readonly CanonicalEvent[],
    commit: boolean,
  ): Promise<void> {
    await writer.run('BEGIN TRANSACTION');
    let appender: DuckDBAppender | undefined;
    try {
      let events = given;
      if (commit) {
        this.latestStored ??= await latestReceived(writer);
        events = await unstored(writer, given, this.latestStored);
      }
      const marks = marksOf(events);
      appender = await writer.createAppender('events');
      for (let from = 0; from < events.length; from += CHUNK_ROWS) {
        appender.appendDataChunk(
          fillEventChunk(
            this.reusedChunk(),
            this.layout,
            events,
            from,
            Math.min(from + CHUNK_ROWS, events.length),
          ),
        );
        // Building chunks runs on the event loop: let requests through between chunks of a big batch.
        if (from + CHUNK_ROWS < events.length) await new Promise<void>((r) => setImmediate(r));
      }
      // The appender writes into the open transaction only when flushed: close it before COMMIT.
      appender.closeSync();
      if (marks.length > 0) {
        appender = await writer.createAppender(DIRTY_TABLE);
        for (const mark of marks) {
          appender.appendVarchar(mark.org);
          if (mark.conversationId === null) appender.appendNull();
          else appender.appendVarchar(mark.conversationId);
          if (mark.participantId === null) appender.appendNull();
          else appender.appendVarchar(mark.participantId);
          appender.appendTimestamp(timestamp(mark.lo));
          appender.appendTimestamp(timestamp(mark.hi));
          appender.endRow();
        }
        appender.closeSync();
      }
      if (!commit) {
        await writer.run('ROLLBACK');
        return;
      }
      await writer.run('COMMIT');
      for (const event of events) {
        const at = event.receivedTime.getTime();
        if (at > (this.latestStored ?? Number.NEGATIVE_INFINITY)) this.latestStored = at;
      }
      await checkKept(writer, events.at(-1));
      if (marks.length > 0) this.marked();
    } catch (error) {
      // An appender still holding refused rows would try to flush them again when it is closed or
      // collected, whatever transaction is open then: drop its rows and close it here, before ROLLBACK.
      try {
        appender?.clear();
        appender?.closeSync();
      } catch {}
      await writer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}

/** Received times as SQL literals: made here from Dates, never from request text. */
const timeLiteral = (date: Date) => `TIMESTAMP '${date.toISOString().replace('T', ' ').replace('Z', '')}'`;

/**
 * The events of a load whose id the events table does not hold, each id once (the first event that has it).
 * `latestStored`: the latest received time the table holds (ms), or -Infinity when empty.
 *
 * Cheap on a big table because a replay is the same events again, received at the same times: the ingest log
 * holds each event as the server received it, receivedTime included. So an event can be stored already only if
 * some stored event was received at its time: none received after the latest stored one can be, and a live load
 * (received since the last one) is mostly such events and asks the table nothing. The others are looked up
 * among the stored events received within their [earliest, latest] received time only. Events are appended in
 * about the order they are received, so the row groups' zone maps (min/max per 122,880 rows) skip every row
 * group outside that span: the lookup reads a row group or two, not the table. The times are inlined, not
 * bound, so the scan prunes by them when it is planned.
 *
 * What this does NOT catch: the same id stored with another received time. Appends never make that (a replay
 * repeats the time; a keyed event's id is claimed once per key and window by intake's idempotency index, and
 * this store has one server); a caller that appends one id twice at two times stores it twice.
 */
async function unstored(
  writer: DuckDBConnection,
  events: readonly CanonicalEvent[],
  latestStored: number,
): Promise<readonly CanonicalEvent[]> {
  let earliest = Number.POSITIVE_INFINITY;
  let latest = Number.NEGATIVE_INFINITY;
  const candidates: string[] = [];
  for (const event of events) {
    const at = event.receivedTime.getTime();
    if (!(at <= latestStored)) continue;
    candidates.push(event.id);
    if (at < earliest) earliest = at;
    if (at > latest) latest = at;
  }
  let stored = new Set<string>();
  if (candidates.length > 0) {
    const reader = await writer.runAndReadAll(
      `SELECT id FROM events WHERE received_time BETWEEN ${timeLiteral(new Date(earliest))} AND ${timeLiteral(new Date(latest))} ` +
        'AND id IN (SELECT unnest($ids))',
      { ids: listValue(candidates) },
    );
    stored = new Set(reader.getColumnsJS()[0] as string[] | undefined);
  }
  const seen = new Set<string>();
  const fresh = events.filter((event) => {
    if (stored.has(event.id) || seen.has(event.id)) return false;
    seen.add(event.id);
    return true;
  });
  return fresh.length === events.length ? events : fresh;
}

/** The latest received time the events table holds, in ms; -Infinity when it holds none. */
async function latestReceived(writer: DuckDBConnection): Promise<number> {
  const reader = await writer.runAndReadAll('SELECT max(received_time) AS latest FROM events');
  const latest = reader.getRowObjectsJS()[0]?.latest as Date | null | undefined;
  return latest ? latest.getTime() : Number.NEGATIVE_INFINITY;
}

/**
 * DuckDB answers COMMIT without an error, and keeps nothing, when something failed inside the transaction
 * after its last statement: an appender holding refused rows, flushed when it is closed or garbage-collected,
 * flushes into whatever transaction the connection has open then. A load would then be counted as stored
 * while its events were not (the flaky group-commit test: 1 event stored of 2 loaded). The last event
 * appended is read back (by its received time and id, which the zone maps make cheap): if it is not there,
 * nothing was, and the load fails to be retried.
 */
async function checkKept(writer: DuckDBConnection, last: CanonicalEvent | undefined): Promise<void> {
  if (!last) return;
  const reader = await writer.runAndReadAll(
    `SELECT count(*) AS kept FROM events WHERE received_time = ${timeLiteral(last.receivedTime)} AND id = $id`,
    { id: last.id },
  );
  if (Number(reader.getRowObjectsJS()[0]?.kept ?? 0) === 0) {
    throw new Error(`the store answered COMMIT but kept nothing (event ${last.id} is not there)`);
  }
}

/**
 * Fills `chunk` (made for `layout`) with rows [from, to): one native call per column instead of one per value,
 * which is most of the appender's cost on the event loop. The appender copies what it is given, so the chunk
 * can be filled again as soon as it is appended.
 */
function fillEventChunk(
  chunk: DuckDBDataChunk,
  layout: readonly EventSlot[],
  events: readonly CanonicalEvent[],
  from: number,
  to: number,
): DuckDBDataChunk {
  const rows = to - from;
  chunk.reset();
  // After reset: setting the count also drops the wrapper's vectors cached for the previous fill.
  chunk.rowCount = rows;
  layout.forEach((slot, column) => {
    const values = new Array<DuckDBValue>(rows);
    let present = false;
    for (let row = from; row < to; row++) {
      const value = slot.value(events[row] as CanonicalEvent);
      values[row - from] = value;
      if (value !== null) present = true;
    }
    if (present) chunk.setColumnValues(column, values);
    else setAllNull(chunk, column, rows);
  });
  return chunk;
}

/**
 * Marks a whole column null in one native copy of its validity mask. Most columns of most events are null
 * (a UA event has no channel fields, a KPI event no UA ones), and setting nulls one value at a time costs
 * a JS round of validity bookkeeping each, which was a third of loading a batch.
 */
function setAllNull(chunk: DuckDBDataChunk, column: number, rows: number): void {
  const vector = bindings.data_chunk_get_vector(chunk.chunk, column);
  const bytes = Math.ceil(rows / 64) * 8;
  bindings.vector_ensure_validity_writable(vector);
  bindings.copy_data_to_vector_validity(vector, 0, new ArrayBuffer(bytes), 0, bytes);
}
