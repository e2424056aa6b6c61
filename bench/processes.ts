import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** What every bench shares: number formats, child servers, and clean-up however a bench ends. */

export const ROOT = path.resolve(import.meta.dirname, '..');
const STATUS_PATH = '/rest/ua/v15/analytics/status';

export const int = (n: number) => String(Math.round(n));
export const ms = (n: number) => (n < 10 ? n.toFixed(1) : int(n));
/** The value at rank p (0–1) of a list of measurements. */
export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
};
export const fixed2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

/** A whole-number setting from the environment, at least `min`; unset or empty gives `fallback`. */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer of at least ${min}; received ${JSON.stringify(raw)}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Clean-up: children and temporary directories are released however the bench ends.

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `openua-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function cleanUp(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Runs a bench's main: a failure is printed and sets the exit code; servers and temporary data go either way. */
export async function runBench(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    cleanUp();
  }
}

process.on('exit', cleanUp);
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers and removing temporary data`);
    cleanUp();
    process.exit(code);
  });
}

export const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

// ---------------------------------------------------------------------------------------------------
// Servers as child processes.

export interface Server {
  name: string;
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function startServer(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  // Kept only to explain a failure; bounded so a chatty server cannot grow this process.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited before it was ready:\n${output}`);
    }
    try {
      if ((await fetch(`${url}${STATUS_PATH}`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${name} was not ready after 30 s:\n${output}`);
    await sleep(100);
  }
  return { name, url, child, output: () => output, exited };
}

/** SIGTERM lets OpenUA commit every accepted event and checkpoint before it exits; SIGKILL only if it hangs. */
export async function stopServer(server: Server): Promise<number | null> {
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 30_000);
  try {
    return await server.exited;
  } finally {
    clearTimeout(timer);
  }
}
