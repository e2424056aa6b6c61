/**
 * `npm run bench:memory`: how much memory the server holds through a flood of large batches from senders
 * that ignore Retry-After, and whether it gives it back afterwards. The baseline is a bare Fastify route
 * that parses the same batches (bench/bare-server.ts), measured in the same run: the ratio of peak resident
 * memory is the figure that travels between machines; the absolute numbers are this machine's.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { residentMb } from '../test/helpers/server.ts';
import {
  envInt,
  fixed2,
  int,
  ROOT,
  runBench,
  type Server,
  sleep,
  startServer,
  stopServer,
  tempDir,
} from './processes.ts';

const settings = {
  senders: envInt('BENCH_FLOOD_SENDERS', 16),
  batchSize: envInt('BENCH_FLOOD_BATCH', 1000),
  seconds: envInt('BENCH_FLOOD_SECONDS', 20),
  settleSeconds: envInt('BENCH_SETTLE_SECONDS', 10),
};

function batchBody(size: number): string {
  return JSON.stringify({
    events: Array.from({ length: size }, (_, i) => ({
      kind: 'custom',
      eventType: 'flood',
      eventValue: `v${i}`,
      language: 'en',
      clientId: `5d2f7a10-8c3b-4e9a-b6d4-${(0x1e0f2a3b4c00 + (i % 50)).toString(16).padStart(12, '0')}`,
      originLevel1: 'search',
      customData: { facet_id: '@objecttype', position: (i % 10) + 1, note: 'x'.repeat(200) },
    })),
  });
}

interface Figures {
  baseline: number;
  peak: number;
  after: number;
  answered: Record<number, number>;
}

/** Floods `server` with batches, sampling its memory every 100 ms, then lets it settle. */
async function flood(server: Server, token: string): Promise<Figures> {
  const pid = server.child.pid as number;
  await sleep(2000);
  const baseline = residentMb(pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, residentMb(pid));
  }, 100);
  const body = batchBody(settings.batchSize);
  const answered: Record<number, number> = {};
  const deadline = performance.now() + settings.seconds * 1000;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  // Senders that do not wait when told to: each resends the moment it is answered, 503 or not.
  const sender = async () => {
    while (performance.now() < deadline) {
      try {
        const response = await fetch(`${server.url}/api/v1/events/batch`, { method: 'POST', headers, body });
        await response.arrayBuffer();
        answered[response.status] = (answered[response.status] ?? 0) + 1;
      } catch {
        answered[0] = (answered[0] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: settings.senders }, sender));
  const settleUntil = performance.now() + settings.settleSeconds * 1000;
  while (performance.now() < settleUntil) await sleep(100);
  clearInterval(sampler);
  return { baseline, peak, after: residentMb(pid), answered };
}

const show = (name: string, f: Figures) =>
  `${name}: baseline ${int(f.baseline)} MB, peak ${int(f.peak)} MB, ${settings.settleSeconds} s after ${int(f.after)} MB; answers ${JSON.stringify(f.answered)}`;

async function main(): Promise<void> {
  console.log(
    `memory bench: ${settings.senders} senders of ${settings.batchSize}-event batches ignoring Retry-After for ${settings.seconds} s, then ${settings.settleSeconds} s idle`,
  );
  const bare = await startServer(
    'bare Fastify',
    ['--import', 'tsx', path.join(ROOT, 'bench/bare-server.ts')],
    {},
  );
  const bareFigures = await flood(bare, 'none');
  await stopServer(bare);
  console.log(show('bare route', bareFigures));

  const masterKey = `bench_${randomBytes(16).toString('hex')}`;
  const openua = await startServer('OpenUA', [path.join(ROOT, 'bin/openua.js'), 'serve'], {
    OPENUA_DATA_DIR: tempDir('memory'),
    OPENUA_MASTER_KEY: masterKey,
    OPENUA_LOG_LEVEL: 'warn',
    // To try the server under other V8 settings (say --max-old-space-size=128) without changing the bench's own.
    ...(process.env.BENCH_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS } : {}),
  });
  const figures = await flood(openua, masterKey);
  const exit = await stopServer(openua);
  console.log(show('OpenUA', figures));
  if (exit !== 0) throw new Error(`OpenUA exited with ${exit}:\n${openua.output()}`);
  console.log(`peak RSS: OpenUA ${int(figures.peak)} MB, bare route ${int(bareFigures.peak)} MB`);
  console.log(`peak memory ratio: ${fixed2(figures.peak / bareFigures.peak)}`);
}

await runBench(main);
