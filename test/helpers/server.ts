import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { readConfig } from '../../src/core/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { createServices, type Services } from '../../src/startup/services.ts';
import { openStorage } from '../../src/storage/open-storage.ts';
import { testEngineEnv, testStorageSettings } from './engine.ts';
import { freePort } from './ports.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export function tempDir(prefix = 'openua-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export const newMasterKey = () => `mk_${randomBytes(16).toString('hex')}`;

export interface TestServer {
  url: string;
  masterKey: string;
  dataDir: string;
  app: FastifyInstance;
  services: Services;
  close(): Promise<void>;
}

/**
 * A real OpenUA on loopback over a real store for a fresh directory (or `dataDir`, to reopen one), on the engine the
 * run asks for (test/helpers/engine.ts: a DuckDB file by default, a ClickHouse database with OPENUA_TEST_ENGINE).
 */
export async function startServer(
  options: { env?: Record<string, string>; dataDir?: string; masterKey?: string } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir();
  const masterKey = options.masterKey ?? newMasterKey();
  const read = readConfig({
    OPENUA_DATA_DIR: dataDir,
    OPENUA_MASTER_KEY: masterKey,
    PORT: '0',
    OPENUA_LOG_LEVEL: 'silent',
    ...options.env,
  });
  const config = { ...read, storage: await testStorageSettings(dataDir) };
  const services = await createServices(config, await openStorage(config.storage));
  const app = await buildApp(services, { logger: false });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, masterKey, dataDir, app, services, close: () => app.close() };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** fetch with JSON in and (when there is one) JSON out. */
export async function call<T = Record<string, unknown>>(
  url: string,
  init: {
    method?: string;
    token?: string;
    body?: unknown;
    headers?: Record<string, string>;
    raw?: string;
  } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined = init.raw;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed as T };
}

export const CUSTOM_PATH = '/rest/ua/v15/analytics/custom';

/** A custom event that passes every rule. */
export const validCustomEvent = (extra: Record<string, unknown> = {}) => ({
  eventType: 'facet',
  eventValue: 'facetSearch',
  language: 'en',
  ...extra,
});

export async function createKey(server: TestServer, privileges: string[], org = 'default'): Promise<string> {
  const answer = await call<{ key: string }>(`${server.url}/api/v1/orgs/${org}/keys`, {
    token: server.masterKey,
    body: { name: `test ${privileges.join(' ')}`, privileges },
  });
  if (answer.status !== 201) throw new Error(`key creation failed: ${JSON.stringify(answer.body)}`);
  return answer.body.key;
}

export async function readEvents(server: TestServer, token = server.masterKey, query = '') {
  const answer = await call<{ events: Record<string, unknown>[] }>(
    `${server.url}/api/v1/events?limit=10000${query}`,
    {
      token,
    },
  );
  if (answer.status !== 200) throw new Error(`read failed: ${JSON.stringify(answer.body)}`);
  return answer.body.events;
}

/** Resident memory of a process, in MB, from /proc (Linux); 0 once it has exited. */
export function residentMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** `openua serve` as its own process, for tests about signals, crashes and restarts. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * `openua serve` over `dataDir`, on the engine the run asks for (the store testStorage(dataDir) opens), on a free
 * port: a port taken between its choice and the server's bind is tried again with another.
 */
export async function spawnServer(dataDir: string, masterKey: string, env: Record<string, string> = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnServerOn(await freePort(), dataDir, masterKey, env);
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(error))) throw error;
    }
  }
}

async function spawnServerOn(port: number, dataDir: string, masterKey: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/openua.js'), 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      OPENUA_DATA_DIR: dataDir,
      OPENUA_MASTER_KEY: masterKey,
      PORT: String(port),
      HOST: '127.0.0.1',
      OPENUA_LOG_LEVEL: 'info',
      ...(await testEngineEnv(dataDir)),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  // A restart loads what its last run left in the ingest log first, which takes longer on a loaded machine.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    try {
      // Ready, not only listening: a server listens while it loads what its last run left in the ingest log.
      const response = await fetch(`${url}/ready`);
      if (response.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start in 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, output: () => output, exited } satisfies ServerProcess;
}

/** Starts one server for the enclosing suite (handed to `use`) and closes it, and its data, afterwards. */
export function serverForSuite(
  use: (server: TestServer) => void | Promise<void>,
  options: Parameters<typeof startServer>[0] = {},
): void {
  let server: TestServer | undefined;
  before(async () => {
    server = await startServer(options);
    await use(server);
  });
  after(async () => {
    if (!server) return;
    await server.close();
    removeDir(server.dataDir);
  });
}
