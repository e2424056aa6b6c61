/**
 * `npm run bench:channel`: what logAnalyticsEvent costs, against the UA custom-event route of the same
 * server in the same run. Both are one POST per call, through the same credential check and the same
 * ingest path; logAnalyticsEvent also checks its conversation, session, participant, provider switch and
 * KPI definition. Ratio = logAnalyticsEvent events/s ÷ UA custom events/s.
 *
 * Traffic spreads over 200 conversations, each with a session and an agent, as a contact center's would.
 * It also times initLogAnalytics opening a new conversation on each call (three records in one transaction).
 * It prints figures and asserts no performance (the machines are shared); it fails only when a call is refused
 * for any reason but back-pressure (503 when the ingest queue is full, which it counts and reports).
 *
 * Environment (all optional): BENCH_DURATION seconds per measurement (10), BENCH_WARMUP seconds before
 * each (2), BENCH_CONNECTIONS concurrent connections (50).
 */
import autocannon from 'autocannon';
import { type ConversationIds, startConversation } from '../test/helpers/channel.ts';
import { newMasterKey, removeDir, type ServerProcess, spawnServer, tempDir } from '../test/helpers/server.ts';
import { runBench } from './processes.ts';

const number = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`);
  return value;
};
const seconds = Math.max(1, number('BENCH_DURATION', 10));
const warmup = number('BENCH_WARMUP', 2);
const connections = Math.max(1, number('BENCH_CONNECTIONS', 50));
const CONVERSATIONS = 200;

interface Measured {
  /** Calls answered 200, per second. */
  callsPerSecond: number;
  /** Calls shed with 503 (the ingest queue was full): back-pressure, not failure. */
  shed: number;
  p50: number;
  p99: number;
}

async function measure(
  server: ServerProcess,
  token: string,
  path: string,
  /** Bodies sent in turn, or one made for each request (for calls that must not repeat). */
  bodies: string[] | (() => string),
): Promise<Measured> {
  let refused: string | undefined;
  let shed = 0;
  const run = (duration: number) =>
    autocannon({
      url: `${server.url}${path}`,
      method: 'POST',
      connections,
      duration,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      requests: (typeof bodies === 'function' ? [bodies] : bodies).map((body) => ({
        ...(typeof body === 'function'
          ? { setupRequest: (request: autocannon.Request) => ({ ...request, body: body() }) }
          : { body }),
        onResponse: (status: number, answer: string) => {
          if (status === 503) shed++;
          else if (status !== 200) refused ??= `${status} ${answer}`;
        },
      })),
    });
  if (warmup > 0) await run(warmup);
  shed = 0;
  const result = await run(seconds);
  if (refused || result.errors > 0) {
    throw new Error(`${path}: ${refused ?? `${result.errors} socket errors`}`);
  }
  // Only calls answered 200 count; shed ones are reported beside them.
  const answered = result.requests.total;
  return {
    callsPerSecond: (result.requests.average * (answered - shed)) / Math.max(answered, 1),
    shed,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

const describe = (m: Measured, eventsPerCall: number) =>
  `${Math.round(m.callsPerSecond * eventsPerCall)} events/s (${Math.round(m.callsPerSecond)} calls/s), ` +
  `p50 ${m.p50} ms, p99 ${m.p99} ms${m.shed > 0 ? `; ${m.shed} calls shed with 503 (queue full)` : ''}`;

async function main(): Promise<void> {
  const dataDir = tempDir('openua-bench-channel-');
  const masterKey = newMasterKey();
  const server = await spawnServer(dataDir, masterKey, { OPENUA_LOG_LEVEL: 'warn' });
  try {
    console.log(
      `OpenUA channel bench: ${seconds} s per measurement after ${warmup} s of warm-up, ${connections} connections`,
    );
    const conversations: (ConversationIds & { providerId: string })[] = [];
    for (let i = 0; i < CONVERSATIONS; i++)
      conversations.push(await startConversation({ url: server.url, masterKey }));

    const ua = await measure(server, masterKey, '/rest/ua/v15/analytics/custom', [
      JSON.stringify({
        eventType: 'facet',
        eventValue: 'facetSearch',
        language: 'en',
        customData: { facet_id: 'type' },
      }),
    ]);
    const kpiBody = (c: ConversationIds, events: number) =>
      JSON.stringify({
        data: {
          conversationId: c.conversationId,
          providerSessionId: c.providerSessionId,
          participantId: c.participantId,
          events: Array.from({ length: events }, (_, i) => ({
            kpiEventName: 'TabOpened',
            tabId: `tab-${i}`,
            customData: [{ attribute: 'Tab Kind', value: 'order' }],
          })),
        },
        eventName: 'TabOpened',
      });
    const single = await measure(
      server,
      masterKey,
      '/api/v1/channel/logAnalyticsEvent',
      conversations.map((c) => kpiBody(c, 1)),
    );
    const batched = await measure(
      server,
      masterKey,
      '/api/v1/channel/logAnalyticsEvent',
      conversations.map((c) => kpiBody(c, 10)),
    );
    let opened = 0;
    const providerId = conversations[0]?.providerId;
    const init = await measure(server, masterKey, '/api/v1/channel/initLogAnalytics', () =>
      JSON.stringify({
        data: {
          conversation: {
            conversationId: `bench-${++opened}`,
            providerId,
            channel: 'chat',
            session: {
              providerSessionId: `bench-session-${opened}`,
              participants: [{ participantId: 'agent-1', name: 'Agent', type: 'Agent' }],
            },
          },
        },
      }),
    );
    console.log(`UA custom (baseline):           ${describe(ua, 1)}`);
    console.log(`logAnalyticsEvent, 1 per call:  ${describe(single, 1)}`);
    console.log(`logAnalyticsEvent, 10 per call: ${describe(batched, 10)}`);
    console.log(
      `initLogAnalytics, new conversation per call: ${Math.round(init.callsPerSecond)} calls/s, p50 ${init.p50} ms, p99 ${init.p99} ms`,
    );
    console.log(`logAnalyticsEvent ratio: ${(single.callsPerSecond / ua.callsPerSecond).toFixed(2)}`);
    console.log(
      `logAnalyticsEvent (10 per call) event ratio: ${((batched.callsPerSecond * 10) / ua.callsPerSecond).toFixed(2)}`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    removeDir(dataDir);
  }
}

await runBench(main);
