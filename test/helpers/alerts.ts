import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnomalyFigures } from '../../src/alerts/anomaly.ts';

/** A webhook receiver on loopback that records every request and answers what `respond` says. */

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** When it arrived (ms since the epoch). */
  at: number;
}

export interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  close(): Promise<void>;
}

/** `respond(n)` is the status for the n-th request (1-based); 200 by default. */
export async function startReceiver(
  respond: (n: number, request: Received) => number = () => 200,
  port = 0,
): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received = {
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(received);
      response.statusCode = respond(requests.length, received);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/hooks/openua`,
    port: actual,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL on which nothing listens (a port just freed). */
export async function deadUrl(): Promise<string> {
  const receiver = await startReceiver();
  await receiver.close();
  return receiver.url;
}

/** Polls `probe` until it answers something other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What the alerts API answers, as the tests read it. */
export interface ShownAttempt {
  attempt: number;
  at: string;
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface ShownDelivery {
  id: string;
  event: 'alert.fired' | 'alert.resolved';
  state: 'pending' | 'delivered' | 'failed' | 'cancelled';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
  log: ShownAttempt[];
}

export type ShownAnomaly = { kind: string } & AnomalyFigures;

export interface ShownAlert {
  id: string;
  ruleId: string;
  ruleName: string;
  status: 'firing' | 'resolved';
  measure: unknown;
  filters: unknown[];
  comparison: string;
  threshold: number | null;
  value: number;
  windowMinutes: number;
  windowFrom: string;
  windowTo: string;
  anomaly: ShownAnomaly | null;
  firedAt: string;
  resolvedAt: string | null;
  resolvedValue: number | null;
  resolvedReason: string | null;
  delivery: ShownDelivery | null;
  resolvedDelivery: ShownDelivery | null;
}

export interface ShownEvaluation {
  at: string;
  value: number | null;
  breaching: boolean | null;
  anomaly: { kind: string } | null;
  error: string | null;
}

export interface ShownRule {
  id: string;
  name: string;
  measure: unknown;
  filters: unknown[];
  comparison: string;
  threshold: number | null;
  deviations: number | null;
  windowMinutes: number;
  webhookUrl: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastEvaluation: ShownEvaluation | null;
  webhookSecret?: string;
}

/** A webhook's JSON body. */
export interface WebhookBody {
  id: string;
  type: 'alert.fired' | 'alert.resolved';
  createdAt: string;
  organization: string;
  alert: Omit<ShownAlert, 'delivery' | 'resolvedDelivery'>;
}
