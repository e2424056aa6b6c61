import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
// Memory of a process, from Linux's own accounting.

const statusMb = (pid: number | 'self', field: 'VmHWM' | 'VmRSS') => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
};

/** A process's peak resident memory so far (VmHWM), in MB; 0 where /proc has none (not Linux, or it exited). */
export const peakRssMb = (pid: number | 'self') => statusMb(pid, 'VmHWM');

/** This process's resident memory now, in MB. */
export const rssMb = () => statusMb('self', 'VmRSS');

/**
 * Lowers this process's peak to what it holds now, so that a later peakRssMb('self') is the peak of what came
 * after (Linux 4.0 and later: `5` to clear_refs); quietly nothing elsewhere.
 */
export function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {}
}

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

/** A node script run to its end as a child (killed with the others if the bench stops first): its exit code and output. */
export function runNode(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  // Kept only to explain a failure; bounded, as a server's.
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  return new Promise((resolve) =>
    // 'close', not 'exit': the output is read to its end by then.
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
}

/**
 * Where a running OpenUA's memory is now, from its `/metrics` (read with a credential that may): the resident
 * total, V8's heap in use, memory outside the heap (Buffers, DuckDB's results while JavaScript holds them), and
 * what DuckDB says it holds, by use. Only a moment's picture, beside the peak: it explains, the peak measures.
 */
export async function memoryParts(url: string, token: string): Promise<{ rssMb: number; text: string }> {
  try {
    const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const text = await response.text();
    const metric = (name: string) =>
      [...text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))].map((m) => ({
        labels: m[1] ?? '',
        value: Number(m[2]),
      }));
    const mb = (bytes: number) => `${int(bytes / 2 ** 20)} MB`;
    const one = (name: string) => mb(metric(name)[0]?.value ?? 0);
    const store = metric('openua_store_memory_bytes').sort((a, b) => b.value - a.value);
    const total = store.reduce((sum, m) => sum + m.value, 0);
    const uses = store
      .slice(0, 3)
      .map((m) => `${/use="([^"]*)"/.exec(m.labels)?.[1]} ${mb(m.value)}`)
      .join(', ');
    return {
      rssMb: (metric('process_resident_memory_bytes')[0]?.value ?? 0) / 2 ** 20,
      text:
        `RSS ${one('process_resident_memory_bytes')}, V8 heap used ${one('nodejs_heap_size_used_bytes')} ` +
        `of ${one('nodejs_heap_size_total_bytes')}, external ${one('nodejs_external_memory_bytes')}, ` +
        `DuckDB ${mb(total)}${uses ? ` (${uses})` : ''}`,
    };
  } catch (error) {
    return { rssMb: 0, text: `(no /metrics: ${error instanceof Error ? error.message : String(error)})` };
  }
}
