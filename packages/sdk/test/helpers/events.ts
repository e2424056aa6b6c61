import type { TestServer } from '../../../../test/helpers/server.ts';
import { readEvents } from '../../../../test/helpers/server.ts';

export type Stored = Record<string, unknown>;

/**
 * The stored events (of one `eventType`, if given), read through `GET /api/v1/events` once there are at
 * least `count` (an acknowledged event is loaded into the store within OPENUA_LOAD_INTERVAL_MS), and read
 * again a little later, so that a duplicate stored late would be seen too.
 */
export async function storedEvents(
  server: Pick<TestServer, 'url' | 'masterKey'>,
  count: number,
  eventType?: string,
): Promise<Stored[]> {
  const read = () =>
    readEvents(server as TestServer, server.masterKey, eventType ? `&eventType=${eventType}` : '');
  const deadline = Date.now() + 15_000;
  while ((await read()).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  return read();
}

/** How many stored events carry each idempotency key. */
export function countByKey(events: Stored[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const event of events) {
    const key = String(event.idempotencyKey);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
