import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';

/** Where the ClickHouse store is, as the settings (OPENUA_CLICKHOUSE_*) give it. */
export interface ClickHouseConfig {
  /** The HTTP URL of the server (of the first shard, in a cluster). */
  url: string;
  database: string;
  user?: string;
  password?: string;
  /** The cluster name of <remote_servers>, when the store is a Distributed table over shards. */
  cluster?: string;
  /** The HTTP URL of every shard, when there is a cluster (the tables are made on each). */
  shards?: readonly string[];
}

/** A URL without its credentials, to show. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** The user and password a URL carries (`http://user:pass@host`), which win over the settings', and the URL without them. */
function credentials(url: string): { url: string; username?: string; password?: string } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { url };
  const username = decodeURIComponent(parsed.username) || undefined;
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), username, password };
}

/** Errors of the network, not of ClickHouse: the server is not there (or not reachable) at all. */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|Timeout/i;

const errorText = (error: unknown) => {
  const e = error as { message?: string; code?: string };
  return [e.code, e.message].filter(Boolean).join(' ') || String(error);
};

/**
 * One ClickHouse server over HTTP, for one database. Values are inlined as literals (sql.ts): 18.16 takes no
 * query parameters over HTTP. Each request carries `optimize_move_to_prewhere = 0`, so that conditions apply
 * after FINAL has collapsed a row's versions (a PREWHERE would filter the versions before, and an old version
 * could then stand for the row); in a cluster, `insert_distributed_sync = 1` so an acknowledged insert is on
 * its shard, not queued on the server that took it.
 */
export class ClickHouseConnection {
  private readonly client: ClickHouseClient;
  /** Without a database, for CREATE DATABASE. */
  private server?: ClickHouseClient;

  private constructor(
    readonly url: string,
    private readonly config: ClickHouseConfig,
  ) {
    this.client = this.newClient(config.database);
  }

  /** A connection to `url` (default: the store's), checked by a query: a server that does not answer is an error. */
  static async open(config: ClickHouseConfig, url = config.url): Promise<ClickHouseConnection> {
    const connection = new ClickHouseConnection(url, config);
    try {
      await connection.serverRows('SELECT 1 AS one');
    } catch (error) {
      await connection.close();
      throw error;
    }
    return connection;
  }

  private newClient(database: string): ClickHouseClient {
    const { url, username, password } = credentials(this.url);
    return createClient({
      url,
      username: username ?? this.config.user ?? 'default',
      password: password ?? this.config.password ?? '',
      database,
      request_timeout: 300_000,
      // Our errors say which statement failed; the client's own log would print each twice.
      log: { level: ClickHouseLogLevel.OFF },
      clickhouse_settings: {
        optimize_move_to_prewhere: 0,
        // 18.16 opens every column's stream of every part a read touches at once, each with buffers of this size:
        // at the default 1 MiB, `SELECT *` of the ~90-column events table over 6 small parts took over 950 MB.
        // Larger compressed blocks still get a buffer of their own size.
        max_read_buffer_size: 65_536,
        ...(this.config.cluster && { insert_distributed_sync: 1 }),
      } as Record<string, number>,
    });
  }

  /** Rows of a SELECT, as JSONEachRow gives them (64-bit integers as strings). */
  rows(sql: string): Promise<Record<string, unknown>[]> {
    return this.fail(sql, async () => {
      const result = await this.client.query({ query: sql, format: 'JSONEachRow' });
      return result.json<Record<string, unknown>>();
    });
  }

  /**
   * Rows of a SELECT as they arrive, in the batches the client parses (JSONEachRow): never the whole answer in
   * memory. Aborting `signal` stops the request, and ClickHouse cancels the query when its connection closes.
   */
  async *stream(sql: string, signal: AbortSignal): AsyncGenerator<Record<string, unknown>[]> {
    const result = await this.fail(sql, () =>
      this.client.query({ query: sql, format: 'JSONEachRow', abort_signal: signal }),
    );
    try {
      for await (const rows of result.stream<Record<string, unknown>>()) {
        yield rows.map((row) => row.json());
      }
    } finally {
      result.close();
    }
  }

  /** A statement without rows (DDL, ALTER, OPTIMIZE). */
  command(sql: string): Promise<void> {
    return this.fail(sql, async () => {
      await this.client.command({ query: sql });
    });
  }

  /** Rows into a table in one INSERT (one block: all of them or none, when under max_insert_block_size). */
  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.fail(`INSERT INTO ${table}`, async () => {
      await this.client.insert({ table, values: rows as Record<string, unknown>[], format: 'JSONEachRow' });
    });
  }

  /** A statement run outside the database, which may not exist yet. */
  serverCommand(sql: string): Promise<void> {
    this.server ??= this.newClient('default');
    const server = this.server;
    return this.fail(sql, async () => {
      await server.command({ query: sql });
    });
  }

  private serverRows(sql: string): Promise<Record<string, unknown>[]> {
    this.server ??= this.newClient('default');
    const server = this.server;
    return this.fail(sql, async () =>
      (await server.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>(),
    );
  }

  private async fail<T>(sql: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const text = errorText(error);
      if (UNREACHABLE.test(text) && !/DB::Exception/.test(text)) {
        throw new Error(`ClickHouse at ${displayUrl(this.url)} does not answer: ${text}`, { cause: error });
      }
      throw new Error(`ClickHouse refused ${JSON.stringify(sql.slice(0, 200))}: ${text}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.server?.close()]);
  }
}
