import { setTimeout as sleep } from 'node:timers/promises';
import { type ClickHouseConfig, ClickHouseConnection } from './connection.ts';
import { DELETED_COLUMN, localName, VERSION_COLUMN } from './schema.ts';
import { ident, literal } from './sql.ts';
import { nextVersion } from './values.ts';

/** How long to wait for ClickHouse to finish rewriting a table's parts before giving up. */
const MUTATION_WAIT_MS = 300_000;

/**
 * Makes changed and deleted rows physically gone (Storage.expunge). A ReplacingMergeTree keeps a row's older
 * versions, and the versions a tombstone hides, until a merge; and after it keeps the tombstone itself, a whole
 * copy of the row with `_deleted = 1`. So, on each table (the local tables of every shard, in a cluster):
 * 1. `OPTIMIZE … FINAL` merges every partition into one part: each row's versions collapse to its latest;
 * 2. the tombstones written before that merge began are then the only version of their rows, and are deleted
 *    (`ALTER … DELETE`, which rewrites the parts, in the background: waited for here). One written since is left,
 *    as the rows it hides may sit in a part the merge did not see.
 */
export async function expungeTables(
  main: ClickHouseConnection,
  config: ClickHouseConfig,
  tables: readonly string[],
): Promise<void> {
  const clustered = Boolean(config.cluster);
  const nodes = clustered
    ? await Promise.all((config.shards ?? []).map((url) => ClickHouseConnection.open(config, url)))
    : [main];
  try {
    for (const node of nodes) {
      for (const table of tables) {
        const local = localName(table, clustered);
        const before = nextVersion();
        await node.command(`OPTIMIZE TABLE ${ident(local)} FINAL`);
        await node.command(
          `ALTER TABLE ${ident(local)} DELETE WHERE ${ident(DELETED_COLUMN)} = 1 AND ${ident(VERSION_COLUMN)} < ${before}`,
        );
        await mutationsDone(node, local);
      }
    }
  } finally {
    if (clustered) await Promise.all(nodes.map((node) => node.close()));
  }
}

async function mutationsDone(node: ClickHouseConnection, table: string): Promise<void> {
  const deadline = Date.now() + MUTATION_WAIT_MS;
  for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
    const [row] = await node.rows(
      `SELECT count() AS pending FROM system.mutations WHERE database = currentDatabase() AND table = ${literal(table)} AND is_done = 0`,
    );
    if (Number(row?.pending ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`ClickHouse has not finished deleting rows of ${table}`);
    await sleep(delay);
  }
}
