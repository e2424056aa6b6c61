import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  newMasterKey,
  removeDir,
  residentMb,
  type ServerProcess,
  spawnServer,
  tempDir,
} from '../helpers/server.ts';
import { type Finding, fuzz, saveFinding, showFinding, summary } from './harness.ts';
import { type FuzzRequest, send, showRequest, verdict } from './requests.ts';
import { makeFixtures } from './targets.ts';

/**
 * `npm run fuzz`: the long fuzz run, against `openua serve` in its own process over a fresh data directory.
 *
 *   FUZZ_RUNS=100000       cases to draw (default 100,000)
 *   FUZZ_SEED=<n>          the run's seed (default: drawn, and printed)
 *   FUZZ_CONCURRENCY=4     cases in flight (1 makes the whole run reproducible from its seed)
 *   FUZZ_PATH=<path>       with FUZZ_SEED: replays one shrunk counterexample, as a finding prints it
 *   FUZZ_REPLAY=<file>     sends a saved finding (finding-<n>.json) again, byte for byte
 *   FUZZ_OUT=<dir>         where findings are saved (default: a directory under the system's temp dir)
 *
 * Prints progress and an ETA every few seconds, each distinct defect as it is found (its shrunk request, the
 * server's log line for it, how to replay it), and at the end whether the server is still healthy and still
 * stores a valid event. Exits 1 when anything was found.
 */

const env = process.env;
const runs = Number(env.FUZZ_RUNS ?? 100_000);
const seed = Number(env.FUZZ_SEED ?? Math.floor(Math.random() * 0x7fffffff));
const concurrency = Number(env.FUZZ_CONCURRENCY ?? 4);
const out = env.FUZZ_OUT ?? path.join(tmpdir(), `openua-fuzz-${seed}`);
const log = (line: string) => process.stderr.write(`${line}\n`);

const duration = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m ${s % 60}s`
      : `${s}s`;
};

/** The last "unexpected error" the server logged since `from`: its type, message and first frame in src/. */
function lastServerError(server: ServerProcess, from: number): string | undefined {
  const lines = server.output().slice(from).split('\n').reverse();
  for (const line of lines) {
    if (!line.includes('unexpected error')) continue;
    try {
      const entry = JSON.parse(line) as { err?: { type?: string; message?: string; stack?: string } };
      const frame = entry.err?.stack
        ?.split('\n')
        .find((l) => l.includes('/src/'))
        ?.trim();
      return `${entry.err?.type ?? 'Error'}: ${entry.err?.message ?? '?'}${frame ? ` (${frame})` : ''}`;
    } catch {
      return line.slice(0, 300);
    }
  }
  return undefined;
}

async function main(): Promise<number> {
  const dataDir = tempDir('openua-fuzz-');
  const masterKey = newMasterKey();
  log(`fuzz: starting openua serve over ${dataDir}`);
  const server = await spawnServer(dataDir, masterKey, { OPENUA_LOG_LEVEL: 'error' });
  try {
    const fixtures = await makeFixtures({ url: server.url, masterKey });
    const secrets = { MASTER_KEY: fixtures.keys.master, WRITE_KEY: fixtures.keys.write };

    if (env.FUZZ_REPLAY) {
      const saved = JSON.parse(readFileSync(env.FUZZ_REPLAY, 'utf8')) as {
        request: { method: string; path: string; headers: Record<string, string>; bodyBase64: string | null };
      };
      const headers = Object.fromEntries(
        Object.entries(saved.request.headers).map(([name, value]) => [
          name,
          value.replaceAll('<MASTER_KEY>', secrets.MASTER_KEY).replaceAll('<WRITE_KEY>', secrets.WRITE_KEY),
        ]),
      );
      const request: FuzzRequest = {
        method: saved.request.method,
        path: saved.request.path,
        headers,
        ...(saved.request.bodyBase64 !== null && {
          body: new Uint8Array(Buffer.from(saved.request.bodyBase64, 'base64')),
        }),
      };
      const from = server.output().length;
      const answer = await send(server.url, request);
      const problem = verdict(request, answer);
      log(showRequest(request, secrets));
      log(`answer: ${answer.status} ${answer.text.slice(0, 500)}`);
      log(
        problem
          ? `FAILS: ${problem}${lastServerError(server, from) ? `\nserver: ${lastServerError(server, from)}` : ''}`
          : 'passes',
      );
      return problem ? 1 : 0;
    }

    log(
      `fuzz: ${env.FUZZ_PATH ? `replaying ${env.FUZZ_PATH} of seed ${seed}` : `${runs.toLocaleString('en')} cases, seed ${seed}, ${concurrency} at a time`} over ${fixtures.targets.length} targets; findings go to ${out}`,
    );
    // The server's resident memory through the run: a fuzzer is a hostile client, and memory is one thing it attacks.
    const pid = server.child.pid as number;
    const memory = { baseline: residentMb(pid), peak: 0 };
    memory.peak = memory.baseline;
    const sampler = setInterval(() => {
      memory.peak = Math.max(memory.peak, residentMb(pid));
    }, 250);
    const started = Date.now();
    let lastPrint = 0;
    let logFrom = server.output().length;
    const notes = new Map<Finding, string>();
    const report = await fuzz({
      url: server.url,
      fixtures,
      numRuns: runs,
      seed,
      concurrency,
      ...(env.FUZZ_PATH !== undefined && { path: env.FUZZ_PATH }),
      onProgress: ({ cases, findings }) => {
        const now = Date.now();
        if (now - lastPrint < 5_000) return;
        lastPrint = now;
        const rate = cases / ((now - started) / 1000);
        const eta = rate > 0 ? ((runs - cases) / rate) * 1000 : 0;
        log(
          `fuzz: ${cases.toLocaleString('en')}/${runs.toLocaleString('en')} cases (${((cases / runs) * 100).toFixed(1)}%), ${rate.toFixed(0)}/s, ETA ${duration(eta)}, ${findings} findings; server RSS ${residentMb(pid).toFixed(0)} MB (peak ${memory.peak.toFixed(0)})`,
        );
      },
      onFinding: (finding) => {
        const serverError = lastServerError(server, logFrom);
        logFrom = server.output().length;
        const n = notes.size + 1;
        const file = saveFinding(out, n, finding, secrets);
        notes.set(finding, file);
        log(
          `\nfuzz: finding ${n}: ${showFinding(finding, secrets, file)}${serverError ? `\n    server logged: ${serverError}` : ''}\n`,
        );
      },
    });

    log(
      `\nfuzz: ${report.cases.toLocaleString('en')} cases (${report.requests.toLocaleString('en')} requests with shrinking) in ${duration(report.elapsedMs)}, ${report.findings.length} distinct findings`,
    );
    for (const line of summary(report.findings)) log(`  - ${line}`);
    clearInterval(sampler);
    await new Promise((r) => setTimeout(r, 10_000));
    log(
      `fuzz: server memory: ${memory.baseline.toFixed(0)} MB before the run, peak ${memory.peak.toFixed(0)} MB, ${residentMb(pid).toFixed(0)} MB 10 s after`,
    );

    // Afterwards: the process is alive, says it is healthy, and still stores a valid event.
    let healthy = server.child.exitCode === null;
    if (!healthy) log(`fuzz: the server exited (${server.child.exitCode})`);
    const health = await send(server.url, {
      method: 'GET',
      path: '/rest/ua/v15/analytics/monitoring/health',
      headers: {},
    });
    if (health.status !== 200 || !health.text.includes('"UP"')) {
      healthy = false;
      log(`fuzz: health after the run: ${health.status} ${health.text}`);
    }
    const marker = `after-fuzz-${seed}`;
    const stored = await send(server.url, {
      method: 'POST',
      path: '/rest/ua/v15/analytics/custom',
      headers: { authorization: `Bearer ${fixtures.keys.write}`, 'content-type': 'application/json' },
      body: new Uint8Array(
        Buffer.from(JSON.stringify({ eventType: marker, eventValue: 'v', language: 'en' })),
      ),
    });
    const read = await send(server.url, {
      method: 'GET',
      path: `/api/v1/events?eventType=${marker}`,
      headers: { authorization: `Bearer ${masterKey}` },
    });
    if (stored.status !== 200 || !read.text.includes(marker)) {
      healthy = false;
      log(
        `fuzz: a valid event after the run: ${stored.status} ${stored.text}; read back: ${read.status} ${read.text.slice(0, 300)}`,
      );
    }
    log(
      healthy
        ? 'fuzz: the server is still healthy and still stores a valid event'
        : 'fuzz: the server is NOT well after the run',
    );
    return report.findings.length === 0 && healthy ? 0 : 1;
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    removeDir(dataDir);
  }
}

process.exitCode = await main();
