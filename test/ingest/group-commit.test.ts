import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { OpenUAError } from '../../src/core/errors.ts';
import {
  GroupCommit,
  type GroupCommitOptions,
  LOG_CHECKPOINT,
  logCheckpointName,
} from '../../src/ingest/group-commit.ts';
import { IngestLog } from '../../src/ingest/ingest-log.ts';
import type { CanonicalEvent } from '../../src/model/canonical-event.ts';
import { COMMIT_KEY, eventToRowJson } from '../../src/storage/event-rows.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { testStorage } from '../helpers/engine.ts';
import { canonicalEvent } from '../helpers/events.ts';
import { removeDir, tempDir } from '../helpers/server.ts';

/** The writer over a real ingest log and a real store: acknowledgement, loading, recovery, back-pressure. */

let dir: string;
let storage: Storage;
const writers: GroupCommit[] = [];
const errors: string[] = [];

const logDir = () => path.join(dir, 'ingest-log');

async function writer(options: Partial<GroupCommitOptions> = {}): Promise<GroupCommit> {
  const created = new GroupCommit(
    storage,
    await IngestLog.open(logDir()),
    { capacity: 100_000, batchSize: 5_000, lingerMs: 0, loadIntervalMs: 20, ...options },
    (message, cause) =>
      errors.push(cause === undefined ? message : `${message}: ${(cause as Error)?.message ?? cause}`),
  );
  writers.push(created);
  await created.recover();
  return created;
}

beforeEach(async () => {
  dir = tempDir();
  storage = await testStorage(dir);
  await storage.migrate([]);
  errors.length = 0;
});
afterEach(async () => {
  for (const w of writers.splice(0)) await w.drain().catch(() => undefined);
  await storage.close().catch(() => undefined);
  removeDir(dir);
});

const event = (eventType: string, extra: Partial<CanonicalEvent> = {}) =>
  canonicalEvent({ org: 'gc', eventType, customData: { k: 'v' }, ...extra });

const count = async (eventType: string) =>
  (
    await storage.queryEvents('gc', {
      where: { kind: 'compare', op: 'eq', field: 'eventType', value: eventType },
      limit: 100_000,
    })
  ).rows.length;

describe('group commit into the ingest log', () => {
  it('acknowledges concurrent submits in few log writes and loads every event once', async () => {
    const w = await writer();
    await Promise.all(Array.from({ length: 500 }, () => w.submit([event('grouped')])));
    const acknowledged = w.stats();
    assert.equal(acknowledged.acknowledgedEvents, 500);
    assert.ok(
      acknowledged.logWrites < 50,
      `500 concurrent submits took ${acknowledged.logWrites} log writes`,
    );
    await w.sync();
    assert.equal(await count('grouped'), 500);
    const loaded = w.stats();
    assert.equal(loaded.loadedEvents, 500);
    assert.equal(loaded.unloaded, 0);
  });

  it('an acknowledged event is on disk before the store has it', async () => {
    const w = await writer({ loadIntervalMs: 60_000 });
    await w.submit([event('logged-first', { eventValue: 'marker-42' })]);
    assert.equal(await count('logged-first'), 0, 'not loaded yet');
    const log = readdirSync(logDir())
      .filter((f) => f.endsWith('.log'))
      .map((f) => readFileSync(path.join(logDir(), f), 'utf8'))
      .join('');
    assert.match(log, /marker-42/);
    await w.sync();
    assert.equal(await count('logged-first'), 1);
  });

  it('never loads more than batchSize events in one transaction', async () => {
    const w = await writer({ batchSize: 10 });
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => w.submit([event('small-batches', { eventValue: `${i}` })])),
    );
    await w.sync();
    assert.equal(await count('small-batches'), 100);
    assert.ok(w.stats().loads >= 10);
  });

  it('records how far it loaded once the events are stored', async () => {
    const w = await writer();
    await w.submit([event('checkpointed')]);
    await w.sync();
    assert.match((await storage.readCheckpoint(await w.checkpoint())) ?? '', /^\d+:\d+$/);
  });

  it('names its checkpoint after its own log, so writers sharing a store keep their positions apart', async () => {
    const w = await writer();
    const name = await w.checkpoint();
    assert.match(name, new RegExp(`^${LOG_CHECKPOINT}:[0-9a-f-]{36}$`));
    assert.equal(await logCheckpointName(logDir()), name, 'kept in the log directory, across restarts');
    mkdirSync(path.join(dir, 'another-log'));
    assert.notEqual(await logCheckpointName(path.join(dir, 'another-log')), name);
  });
});

describe('recovery', () => {
  it('a new writer loads what an earlier one acknowledged but never loaded, exactly once', async () => {
    const first = await writer({ loadIntervalMs: 60_000 });
    await Promise.all(Array.from({ length: 30 }, () => first.submit([event('recovered')])));
    assert.equal(await count('recovered'), 0);
    // The first writer is abandoned without draining, as a crash would leave it.
    writers.splice(writers.indexOf(first), 1);

    const second = await writer();
    assert.equal(await count('recovered'), 30);
    assert.equal(second.stats().loadedEvents, 0, 'recovery loads before the writer starts');
    const third = await writer();
    assert.equal(await count('recovered'), 30, 'replaying twice loads nothing twice');
    assert.equal(third.stats().loadedEvents, 0);
  });

  it('a crash between an append and its checkpoint: the replay stores nothing twice', async () => {
    const first = await writer({ loadIntervalMs: 60_000 });
    const events = Array.from({ length: 30 }, (_, i) => event('appended-unsaved', { eventValue: `${i}` }));
    await Promise.all(events.map((e) => first.submit([e])));
    writers.splice(writers.indexOf(first), 1);
    // What the crash left: the events appended (half of them, say), the log position not saved.
    await storage.appendEvents(events.slice(0, 15));
    assert.equal(await storage.readCheckpoint(await first.checkpoint()), undefined);

    const second = await writer();
    assert.equal(await count('appended-unsaved'), 30);
    assert.match((await storage.readCheckpoint(await second.checkpoint())) ?? '', /^\d+:\d+$/);
  });

  it('a checkpoint that fails after its append is retried, and the events are stored once', async () => {
    let failures = 1;
    const real = storage;
    storage = new Proxy(real, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property === 'saveCheckpoint') {
          return async (name: string, position: string) => {
            if (failures-- > 0) throw new Error('the store went away after the append');
            return real.saveCheckpoint(name, position);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const w = await writer();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => w.submit([event('resaved', { eventValue: `${i}` })])),
    );
    await w.sync();
    storage = real;
    assert.equal(await count('resaved'), 20);
    assert.equal(w.stats().failedLoads, 1);
    assert.ok(errors.some((e) => e.includes('the store went away')));
  });

  it('a record cut short by a crash is dropped, and the rest is loaded', async () => {
    const first = await writer({ loadIntervalMs: 60_000 });
    await first.submit([event('torn')]);
    writers.splice(writers.indexOf(first), 1);
    const [segment] = readdirSync(logDir()).filter((f) => f.endsWith('.log'));
    const { appendFileSync } = await import('node:fs');
    appendFileSync(path.join(logDir(), segment as string), '[{"id":"half-writ');
    await writer();
    assert.equal(await count('torn'), 1);
  });

  it('a write cut short at the end of a line is cut off whole: no event of it is loaded', async () => {
    const first = await writer({ loadIntervalMs: 60_000 });
    await first.submit([event('before-torn')]);
    writers.splice(writers.indexOf(first), 1);
    const [segment] = readdirSync(logDir()).filter((f) => f.endsWith('.log'));
    // Two whole rows of a write whose commit line never reached the disk.
    const rows = [event('torn-whole'), event('torn-whole')].map((e) => `${eventToRowJson(e)}\n`).join('');
    appendFileSync(path.join(logDir(), segment as string), rows);
    await writer();
    assert.equal(await count('before-torn'), 1);
    assert.equal(await count('torn-whole'), 0);
  });

  it('an unreadable line is reported and skipped, and so is a write whose commit line does not match it', async () => {
    mkdirSync(logDir(), { recursive: true });
    const rows = (...lines: string[]) => lines.map((l) => `${l}\n`).join('');
    const write = (body: string, count: number, bytes = Buffer.byteLength(body)) =>
      `${body}{"${COMMIT_KEY}":${count},"b":${bytes}}\n`;
    const kept = rows(
      eventToRowJson(event('readable')),
      '{"id": not json',
      eventToRowJson(event('readable')),
    );
    const mismatched = rows(eventToRowJson(event('mismatched')));
    writeFileSync(
      path.join(logDir(), '0000000001.log'),
      write(kept, 3) + write(mismatched, 2) + write(rows(eventToRowJson(event('readable'))), 1),
    );
    await writer();
    assert.equal(await count('readable'), 3);
    assert.equal(await count('mismatched'), 0);
    assert.equal(errors.filter((e) => /unreadable ingest log record/.test(e)).length, 2, errors.join('\n'));
  });

  it('replays the segments of the previous version, one JSON array of events per line', async () => {
    mkdirSync(logDir(), { recursive: true });
    const old = [
      [event('old-format'), event('old-format')],
      [event('old-format', { eventTime: new Date(0) })],
    ];
    writeFileSync(path.join(logDir(), '0000000007.log'), old.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const w = await writer();
    assert.equal(await count('old-format'), 3);
    const stored = await storage.queryEvents('gc', {
      where: { kind: 'compare', op: 'eq', field: 'eventType', value: 'old-format' },
      limit: 10,
    });
    assert.ok(
      stored.rows.some((e) => e.eventTime?.getTime() === 0),
      'its times are read as times',
    );
    // The new segment comes after the old ones, and they are gone once loaded.
    assert.deepEqual(
      readdirSync(logDir()).filter((f) => f.endsWith('.log')),
      ['0000000008.log'],
    );
    await w.submit([event('after-upgrade')]);
    await w.sync();
    assert.equal(await count('after-upgrade'), 1);
  });

  it('loaded segments are deleted', async () => {
    const first = await writer({ loadIntervalMs: 60_000 });
    await first.submit([event('released')]);
    writers.splice(writers.indexOf(first), 1);
    await writer();
    const logs = readdirSync(logDir()).filter((f) => f.endsWith('.log'));
    assert.equal(logs.length, 1, `only the current segment remains: ${logs.join(', ')}`);
  });
});

describe('failures', () => {
  it('a record the store refuses even alone is set aside; the events around it are loaded', async () => {
    const w = await writer({ loadIntervalMs: 60_000 });
    await w.submit([event('around')]);
    await w.submit([event('around', { id: null as unknown as string })]);
    await w.submit([event('around')]);
    await w.sync();
    // The writer's own account of what went wrong, for a run where the counts are off.
    const account = `${JSON.stringify(w.stats())}\n${errors.join('\n')}`;
    assert.equal(await count('around'), 2, account);
    assert.equal(w.stats().deadLettered, 1, account);
    const deadLetter = readFileSync(path.join(logDir(), 'dead-letter.jsonl'), 'utf8').trim().split('\n');
    assert.equal(deadLetter.length, 1);
    assert.equal(JSON.parse(deadLetter[0] as string).events[0].eventType, 'around');
    assert.ok(errors.some((e) => /refused/.test(e)));
  });

  it('in a record it shares with other requests, only the refused event is set aside, and once', async () => {
    const w = await writer({ loadIntervalMs: 60_000 });
    // Submitted together, the three share one log write: one record, as concurrent requests do.
    await Promise.all([
      w.submit([event('shared', { eventValue: 'before' })]),
      w.submit([event('shared', { id: null as unknown as string, eventValue: 'poison' })]),
      w.submit([event('shared', { eventValue: 'after' })]),
    ]);
    assert.equal(w.stats().logWrites, 1, 'one record');
    await w.sync();
    const account = `${JSON.stringify(w.stats())}\n${errors.join('\n')}`;
    assert.equal(await count('shared'), 2, account);
    assert.equal(w.stats().deadLettered, 1, account);
    const deadLetter = readFileSync(path.join(logDir(), 'dead-letter.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(
      deadLetter.flatMap((line) => JSON.parse(line).events.map((e: CanonicalEvent) => e.eventValue)),
      ['poison'],
    );
    // The checkpoint passed the record with its events: a restart loads none of them again.
    writers.splice(writers.indexOf(w), 1);
    await w.drain();
    await writer();
    assert.equal(await count('shared'), 2, 'nothing loaded twice');
  });

  it('refuses with 503 at once when the queue is full, and accepts again once it is loaded', async () => {
    const w = await writer({ capacity: 2, loadIntervalMs: 60_000 });
    await w.submit([event('bounded'), event('bounded')]);
    await assert.rejects(w.submit([event('bounded')]), (error: OpenUAError) => {
      assert.equal(error.code, 'OVERLOADED');
      assert.ok((error.retryAfter ?? 0) >= 1);
      return true;
    });
    await w.sync();
    await w.submit([event('bounded')]);
    await w.sync();
    assert.equal(await count('bounded'), 3);
    assert.equal(w.stats().shed, 1);
  });

  it('a submit larger than the whole queue is still taken when the queue is empty', async () => {
    const w = await writer({ capacity: 2 });
    await w.submit([event('oversized'), event('oversized'), event('oversized')]);
    await w.sync();
    assert.equal(await count('oversized'), 3);
  });

  it('says the log is failing from a failed write until the next one succeeds', async () => {
    const w = await writer({ loadIntervalMs: 60_000 });
    assert.equal(w.stats().logFailing, false);
    // An event the log cannot serialise: its write fails as a full disk's would, before anything is written.
    const unwritable = event('unwritable', { customData: { k: 1n as unknown as string } });
    await assert.rejects(w.submit([unwritable]), (error: OpenUAError) => error.code === 'UNAVAILABLE');
    assert.equal(w.stats().logFailing, true);
    await w.submit([event('written')]);
    assert.equal(w.stats().logFailing, false);
    await w.sync();
    assert.equal(await count('written'), 1);
    assert.equal(await count('unwritable'), 0);
  });

  it('drain logs and loads what was accepted, then refuses new events', async () => {
    const w = await writer({ lingerMs: 5, loadIntervalMs: 60_000 });
    const accepted = Array.from({ length: 50 }, () => w.submit([event('drained')]));
    await w.drain();
    await Promise.all(accepted);
    assert.equal(await count('drained'), 50);
    await assert.rejects(w.submit([event('drained')]), (error: OpenUAError) => error.statusCode === 503);
    assert.equal(w.stats().closing, true);
    assert.ok(existsSync(logDir()));
  });
});
