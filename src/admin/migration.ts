import type { CanonicalEvent } from '../model/canonical-event.ts';
import { ORGANIZATIONS } from '../orgs/organizations.ts';
import type {
  EntityTable,
  RecordFilter,
  RecordPage,
  Scalar,
  Storage,
  TableShape,
} from '../storage/storage.ts';

/**
 * Copying one store into another through the storage contract alone, so it moves any engine to any other
 * (`openua migrate`: DuckDB to ClickHouse). Records are upserted (a second copy replaces the first), and events
 * are appended in pages ordered by (derivedTime, id), the target saving the last one copied of each organization:
 * appends are idempotent by id, so a copy killed anywhere and run again continues from that point and stores
 * nothing twice.
 */

/** Where an organization's copy of events stands on the target, as saved after each page. */
export const migrationCheckpoint = (org: string) => `migrate:${org}`;

interface Position {
  time: Date;
  id: string;
}

const formatPosition = (p: Position) => JSON.stringify({ time: p.time.toISOString(), id: p.id });

function parsePosition(value: string | undefined): Position | undefined {
  if (!value) return undefined;
  const { time, id } = JSON.parse(value) as { time: string; id: string };
  return { time: new Date(time), id };
}

const ORDER = [
  { field: 'derivedTime', descending: false },
  { field: 'id', descending: false },
] as const;

const compare = (op: 'gt' | 'eq' | 'le' | 'lt', field: string, value: Scalar): RecordFilter => ({
  kind: 'compare',
  op,
  field,
  value,
});

/**
 * The events after a position in (derivedTime, id) order. The leading bound on derivedTime alone is what an
 * engine can skip stored data by (DuckDB's zone maps, ClickHouse's partitions): an OR alone made every page
 * read the whole organization again.
 */
const after = (p: Position): RecordFilter => ({
  kind: 'and',
  filters: [
    { kind: 'compare', op: 'ge', field: 'derivedTime', value: p.time },
    { kind: 'or', filters: [compare('gt', 'derivedTime', p.time), compare('gt', 'id', p.id)] },
  ],
});

/** The events up to a position, itself included. */
const upTo = (p: Position): RecordFilter => ({
  kind: 'or',
  filters: [
    compare('lt', 'derivedTime', p.time),
    {
      kind: 'and',
      filters: [
        compare('eq', 'derivedTime', p.time),
        { kind: 'compare', op: 'le', field: 'id', value: p.id },
      ],
    },
  ],
});

export interface OrgPlan {
  org: string;
  /** The organization's events in the source. */
  events: number;
  /** Of those, how many an earlier, interrupted run already copied. */
  copied: number;
  from?: Position;
}

export interface MigrationPlan {
  orgs: OrgPlan[];
  events: number;
  copied: number;
}

export interface CopyOptions {
  /** Events per read and per append (default 10,000). */
  pageSize?: number;
  /** Every copied page: how many events are in the target so far, of the plan's total. */
  onEvents?: (copied: number, org: string) => void;
  /** Each table once its rows are copied. */
  onTable?: (table: string, rows: number) => void;
}

/** The organizations to copy, with what an earlier run already copied of each (its checkpoint on the target). */
export async function planMigration(source: Storage, target: Storage): Promise<MigrationPlan> {
  const orgs: OrgPlan[] = [];
  for (const { id } of await source.find(ORGANIZATIONS, {})) {
    const events = (await source.queryEvents(id, { limit: 1, count: true })).count ?? 0;
    const from = parsePosition(await target.readCheckpoint(migrationCheckpoint(id)));
    const copied = from
      ? ((await source.queryEvents(id, { where: upTo(from), limit: 1, count: true })).count ?? 0)
      : 0;
    orgs.push({ org: id, events, copied, from });
  }
  const sum = (f: (o: OrgPlan) => number) => orgs.reduce((n, o) => n + f(o), 0);
  return { orgs, events: sum((o) => o.events), copied: sum((o) => o.copied) };
}

const TABLE_PAGE = 2_000;

/** Every row of every table, a page at a time; tables are small beside events, and upserts replace. */
export async function copyTables(
  source: Storage,
  target: Storage,
  tables: readonly TableShape[],
  options: CopyOptions = {},
): Promise<void> {
  const pageSize = TABLE_PAGE;
  for (const shape of tables) {
    const table = shape as EntityTable<object>;
    let copied = 0;
    for (;;) {
      const { rows } = await source.query(table, {}, { limit: pageSize, offset: copied });
      if (rows.length > 0) await target.upsertAll(rows.map((row) => ({ table, row })));
      copied += rows.length;
      if (rows.length < pageSize) break;
    }
    options.onTable?.(table.name, copied);
  }
}

/** Every organization's events after its checkpoint, oldest first, saving the checkpoint after each page. */
export async function copyEvents(
  source: Storage,
  target: Storage,
  plan: MigrationPlan,
  options: CopyOptions = {},
): Promise<number> {
  const pageSize = options.pageSize ?? 10_000;
  let total = plan.copied;
  for (const { org, from } of plan.orgs) {
    const read = (position: Position | undefined): Promise<RecordPage<CanonicalEvent>> =>
      source.queryEvents(org, {
        ...(position && { where: after(position) }),
        orderBy: ORDER,
        limit: pageSize,
      });
    let next: Promise<RecordPage<CanonicalEvent>> | undefined = read(from);
    while (next) {
      const { rows }: RecordPage<CanonicalEvent> = await next;
      const last: CanonicalEvent | undefined = rows.at(-1);
      if (!last) break;
      const position: Position = { time: last.derivedTime, id: last.id };
      // The next page is read while this one is written: the two engines work at once.
      next = rows.length < pageSize ? undefined : read(position);
      // Settled even when the append fails, so a failure is reported once, by the append.
      next?.catch(() => undefined);
      await target.appendEvents(rows);
      // After the append: a kill between the two replays this page, which stores nothing twice.
      await target.saveCheckpoint(migrationCheckpoint(org), formatPosition(position));
      total += rows.length;
      options.onEvents?.(total, org);
    }
  }
  return total;
}

export interface DayCount {
  org: string;
  /** The UTC day, as YYYY-MM-DD. */
  day: string;
  source: number;
  target: number;
}

export interface TableCount {
  table: string;
  source: number;
  target: number;
}

const DAY = 86_400_000;

/** Events per UTC day of one organization, by the engine's own count. */
async function countsByDay(
  storage: Storage,
  org: string,
  from: Date,
  to: Date,
): Promise<Map<string, number>> {
  const { rows } = await storage.aggregateEvents(org, {
    from,
    to,
    bucket: { name: 'day', unit: 'day', timeZone: 'UTC' },
    dimensions: [],
    measures: [{ name: 'events', fn: 'count' }],
    orderBy: [{ name: 'day', descending: false }],
    limit: Math.ceil((to.getTime() - from.getTime()) / DAY) + 1,
  });
  return new Map(rows.map((row) => [(row.day as Date).toISOString().slice(0, 10), Number(row.events)]));
}

/** The span of days holding an organization's events in either store. */
async function daySpan(stores: Storage[], org: string): Promise<{ from: Date; to: Date } | undefined> {
  const times: number[] = [];
  for (const storage of stores) {
    for (const descending of [false, true]) {
      const [event] = (
        await storage.queryEvents(org, { orderBy: [{ field: 'derivedTime', descending }], limit: 1 })
      ).rows;
      if (event) times.push(event.derivedTime.getTime());
    }
  }
  if (times.length === 0) return undefined;
  const from = Math.floor(Math.min(...times) / DAY) * DAY;
  return { from: new Date(from), to: new Date(Math.floor(Math.max(...times) / DAY) * DAY + DAY) };
}

/** Events per organization and UTC day on both sides, every day either side holds. */
export async function compareEventCounts(
  source: Storage,
  target: Storage,
  orgs: readonly string[],
): Promise<DayCount[]> {
  const out: DayCount[] = [];
  for (const org of orgs) {
    const span = await daySpan([source, target], org);
    if (!span) continue;
    const [before, after] = [
      await countsByDay(source, org, span.from, span.to),
      await countsByDay(target, org, span.from, span.to),
    ];
    const days = [...new Set([...before.keys(), ...after.keys()])].sort();
    for (const day of days) out.push({ org, day, source: before.get(day) ?? 0, target: after.get(day) ?? 0 });
  }
  return out;
}

/** Rows of each table on both sides. */
export async function compareTableCounts(
  source: Storage,
  target: Storage,
  tables: readonly TableShape[],
): Promise<TableCount[]> {
  const count = async (storage: Storage, table: TableShape) =>
    (await storage.query(table as EntityTable<object>, {}, { limit: 1, count: true })).count ?? 0;
  const out: TableCount[] = [];
  for (const table of tables)
    out.push({ table: table.name, source: await count(source, table), target: await count(target, table) });
  return out;
}
