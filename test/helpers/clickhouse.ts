import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';

/**
 * Real ClickHouse servers for the tests: Debian's clickhouse-server (18.16) on free loopback ports, each with a
 * temporary directory that goes when it stops. Nothing here is a fake: the engine under test talks HTTP to them.
 */

export const CLICKHOUSE_SERVER = process.env.OPENUA_TEST_CLICKHOUSE_SERVER ?? '/usr/sbin/clickhouse-server';
/** The cluster name two-shard servers declare in <remote_servers>. */
export const TEST_CLUSTER = 'openua_test';

export interface ClickHouseServers {
  /** The first (or only) server's HTTP URL. */
  url: string;
  /** Every shard's HTTP URL, in shard order (one entry for a single node). */
  shardUrls: string[];
  /** The cluster name, when there are two shards. */
  cluster?: string;
  stop(): Promise<void>;
}

interface Node {
  dir: string;
  http: number;
  tcp: number;
  interserver: number;
  child?: ChildProcess;
  /** The server's own pid (the child is the shell that holds it). */
  pid?: number;
  output: string;
}

const running = new Set<Node>();

function killNow(node: Node): void {
  running.delete(node);
  for (const pid of [node.pid, node.child?.pid]) {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {}
  }
  rmSync(node.dir, { recursive: true, force: true });
}

// A test process that ends, normally or by a signal, takes its servers with it. A SIGKILLed test process cannot
// run these handlers: then the shell wrapper in launch() sees its stdin close and kills the server itself.
process.on('exit', () => {
  for (const node of running) killNow(node);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const node of running) killNow(node);
    process.kill(process.pid, signal);
  });
}

const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

/** The configuration of one test server; with `shards`, the cluster every one of them declares. */
export function serverConfig(
  node: Pick<Node, 'dir' | 'http' | 'tcp' | 'interserver'>,
  shards: Node[] = [],
): string {
  const cluster =
    shards.length > 0
      ? `<remote_servers><${TEST_CLUSTER}>${shards
          .map((s) => `<shard><replica><host>127.0.0.1</host><port>${s.tcp}</port></replica></shard>`)
          .join('')}</${TEST_CLUSTER}></remote_servers>`
      : '';
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>${node.http}</http_port>
  <tcp_port>${node.tcp}</tcp_port>
  <interserver_http_port>${node.interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>${node.dir}/data/</path>
  <tmp_path>${node.dir}/tmp/</tmp_path>
  <user_files_path>${node.dir}/user_files/</user_files_path>
  <format_schema_path>${node.dir}/format_schemas/</format_schema_path>
  <mark_cache_size>5368709</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  ${cluster}
</yandex>
`;
}

async function newNode(): Promise<Node> {
  const dir = mkdtempSync(path.join(tmpdir(), 'openua-ch-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(path.join(dir, sub));
  writeFileSync(path.join(dir, 'users.xml'), USERS_XML);
  return { dir, http: await freePort(), tcp: await freePort(), interserver: await freePort(), output: '' };
}

function launch(node: Node): void {
  const config = path.join(node.dir, 'config.xml');
  // The shell holds the server and watches its own stdin, our pipe: when this process dies in any way, even by
  // SIGKILL, the pipe closes and the shell kills the server and removes its directory, so no server outlives it.
  // (An asynchronous list reads /dev/null unless told otherwise, hence fd 3; the shell's own output goes to
  // /dev/null so that its notice of the killed server cannot kill it by SIGPIPE before it removes the directory.)
  const script = `exec 3<&0
"$1" --config-file="$2" </dev/null & ch=$!
echo "clickhouse-pid:$ch"
exec >/dev/null 2>&1
trap '' PIPE
trap 'kill -9 $ch 2>/dev/null; rm -rf "$3"' EXIT
( while read -r _; do :; done; kill -9 $ch 2>/dev/null ) <&3 &
wait $ch`;
  const child = spawn('/bin/sh', ['-c', script, 'sh', CLICKHOUSE_SERVER, config, node.dir], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  node.child = child;
  child.stdout.on('data', (d) => {
    node.output += d;
    node.pid ??= Number(/clickhouse-pid:(\d+)/.exec(node.output)?.[1]) || undefined;
  });
  child.stderr.on('data', (d) => (node.output += d));
  // The servers must not keep a finished test process alive; the exit handlers above stop them.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    (stream as unknown as { unref(): void }).unref();
  running.add(node);
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/?query=SELECT%201`, { signal: AbortSignal.timeout(1000) });
    return response.ok && (await response.text()).trim() === '1';
  } catch {
    return false;
  }
}

async function waitReady(node: Node, timeoutMs: number): Promise<void> {
  const url = `http://127.0.0.1:${node.http}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await answers(url)) return;
    if (node.child?.exitCode !== null && node.child?.exitCode !== undefined) {
      throw new Error(`clickhouse-server exited (${node.child.exitCode}): ${lastLines(node.output)}`);
    }
    if (Date.now() > deadline)
      throw new Error(`clickhouse-server did not answer in ${timeoutMs / 1000} s: ${lastLines(node.output)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const lastLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith('clickhouse-pid:'))
    .slice(-5)
    .join(' | ') || '(no output)';

async function stopNode(node: Node): Promise<void> {
  running.delete(node);
  const child = node.child;
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin?.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  rmSync(node.dir, { recursive: true, force: true });
}

async function startNodes(count: number): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) nodes.push(await newNode());
  for (const node of nodes) {
    writeFileSync(path.join(node.dir, 'config.xml'), serverConfig(node, count > 1 ? nodes : []));
    launch(node);
  }
  try {
    for (const node of nodes) await waitReady(node, 30_000);
  } catch (error) {
    await Promise.all(nodes.map(stopNode));
    throw error;
  }
  return nodes;
}

/**
 * Starts one ClickHouse server, or two that form the two-shard cluster TEST_CLUSTER. When the server is missing or
 * does not start: in CI, throws with the reason (a ClickHouse test must not pass by not running); elsewhere prints
 * a loud line and answers undefined, for the caller to skip with `skipReason()`.
 */
export async function startClickHouse(
  options: { shards?: 1 | 2 } = {},
): Promise<ClickHouseServers | undefined> {
  const count = options.shards ?? 1;
  let nodes: Node[];
  try {
    if (!existsSync(CLICKHOUSE_SERVER)) {
      throw new Error(`${CLICKHOUSE_SERVER} is missing (apt-get install clickhouse-server)`);
    }
    // A port taken between freePort() and the server's bind is the one likely failure; a second try gets new ports.
    try {
      nodes = await startNodes(count);
    } catch {
      nodes = await startNodes(count);
    }
  } catch (error) {
    const reason = (error as Error).message;
    if (process.env.CI) throw new Error(`ClickHouse is needed in CI and did not start: ${reason}`);
    lastSkipReason = `ClickHouse tests (${reason})`;
    console.error(`!!! SKIPPED: ${lastSkipReason}`);
    return undefined;
  }
  const shardUrls = nodes.map((n) => `http://127.0.0.1:${n.http}`);
  return {
    url: shardUrls[0] as string,
    shardUrls,
    cluster: count > 1 ? TEST_CLUSTER : undefined,
    stop: async () => {
      await Promise.all(nodes.map(stopNode));
    },
  };
}

let lastSkipReason = 'ClickHouse tests (not started)';
/** Why the last startClickHouse() answered undefined: the `skip` reason of the tests that needed it. */
export const skipReason = () => `SKIPPED: ${lastSkipReason}`;

/** Runs one statement on a server, for tests that set up or inspect ClickHouse directly. */
export async function clickhouseQuery(url: string, sql: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', body: sql });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse refused ${sql.slice(0, 80)}: ${text.trim()}`);
  return text;
}
