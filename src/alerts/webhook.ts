import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { EntityTable, Storage } from '../storage/storage.ts';
import type { AlertRule, AlertRules } from './alert-rules.ts';
import { type Alert, alertBody, anyOf } from './alerts.ts';

/**
 * Webhooks: a JSON POST per alert event, signed with the rule's secret, retried with exponential backoff,
 * every attempt recorded. A delivery lives in the store from the moment its alert fires, so one still
 * pending when the server stops is resumed at the next start.
 */

export const WEBHOOK_HEADERS = {
  /** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the rule's secret>` */
  signature: 'X-OpenUA-Signature',
  /** Unix seconds when this attempt was signed; part of what is signed, so a replay can be refused by age. */
  timestamp: 'X-OpenUA-Timestamp',
  /** The delivery's id: the same on every retry, for receivers to deduplicate. Also the body's `id`. */
  delivery: 'X-OpenUA-Delivery',
  /** `alert.fired` or `alert.resolved`; also the body's `type`. */
  event: 'X-OpenUA-Event',
  /** 1 for the first attempt, 2 for the first retry… */
  attempt: 'X-OpenUA-Attempt',
} as const;

export type WebhookEvent = 'alert.fired' | 'alert.resolved';
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'cancelled';

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  /** The receiver's HTTP status, or null when there was no answer (network error, timeout). */
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookDelivery {
  id: string;
  org: string;
  alertId: string;
  ruleId: string;
  event: WebhookEvent;
  /** The JSON body, exactly as every attempt sends it. */
  body: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: Date | null;
  /** When the next attempt is due, while pending. */
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
  log: DeliveryAttempt[];
}

export const WEBHOOK_DELIVERIES: EntityTable<WebhookDelivery> = {
  name: 'webhook_deliveries',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    alertId: 'text',
    ruleId: 'text',
    event: 'text',
    body: 'text',
    state: 'text',
    attempts: 'integer',
    lastStatus: 'integer',
    lastError: 'text',
    lastAttemptAt: 'timestamp',
    nextAttemptAt: 'timestamp',
    deliveredAt: 'timestamp',
    createdAt: 'timestamp',
    log: 'json',
  },
};

/** The signature header's value for a body signed at `timestamp` (Unix seconds). */
export function sign(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does: recompute the signature and compare in constant time. */
export function verifySignature(secret: string, timestamp: string, body: string, header: string): boolean {
  const expected = Buffer.from(sign(secret, Number(timestamp), body));
  const actual = Buffer.from(header);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** No answer (network error, timeout), 408, 429 and 5xx are worth another attempt; other statuses are not. */
export const retryable = (status: number | null) =>
  status === null || status === 408 || status === 429 || status >= 500;

/** The longest wait between two attempts. */
export const MAX_RETRY_DELAY_MS = 10 * 60_000;

/**
 * How long to wait after the `failed`-th failed attempt: base × 2^(failed−1), capped, then jittered into
 * its upper half (so alerts that failed together do not retry together); at least what the receiver's
 * Retry-After asked. Pure, given `random`.
 */
export function backoffMs(
  failed: number,
  baseMs: number,
  retryAfterMs: number | undefined = undefined,
  random: () => number = Math.random,
): number {
  const cap = Math.max(MAX_RETRY_DELAY_MS, baseMs);
  const delay = Math.min(baseMs * 2 ** (failed - 1), cap);
  const jittered = Math.round(delay / 2 + random() * (delay / 2));
  return Math.min(Math.max(jittered, retryAfterMs ?? 0), cap);
}

/** Retry-After as milliseconds: seconds, or an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Why a request got no answer, in words. */
function describe(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e?.cause?.code) return `${e.cause.code}: ${e.cause.message ?? e.message}`;
  return e?.message ?? String(error);
}

/** What one attempt came to: delivered, failed and to be retried, failed for good, or cancelled before it. */
export type AttemptOutcome = 'delivered' | 'retrying' | 'failed' | 'cancelled';

export interface WebhookOptions {
  maxAttempts: number;
  retryBaseMs: number;
  timeoutMs: number;
}

/** pino's shape, as much of it as alerts use. */
export interface AlertLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}
export const SILENT: AlertLogger = { info() {}, warn() {}, error() {} };

/** A delivery as the API shows it, inside its alert. */
export const publicDelivery = ({
  org: _o,
  alertId: _a,
  ruleId: _r,
  body: _b,
  ...delivery
}: WebhookDelivery) => delivery;

export class Webhooks {
  /** Each alert's deliveries go one after the other, so `resolved` never overtakes `fired`. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private log: AlertLogger = SILENT;
  private observer: (outcome: AttemptOutcome) => void = () => undefined;

  constructor(
    private readonly storage: Storage,
    private readonly rules: AlertRules,
    private readonly options: WebhookOptions,
  ) {}

  setLogger(log: AlertLogger): void {
    this.log = log;
  }

  /** Told what became of every attempt (or cancellation), as the delivery is stored (the server's metrics). */
  setObserver(observer: (outcome: AttemptOutcome) => void): void {
    this.observer = observer;
  }

  /** Records a delivery of this alert event and starts sending it (after the alert's earlier ones). */
  async send(alert: Alert, event: WebhookEvent): Promise<WebhookDelivery> {
    const id = randomUUID();
    const createdAt = new Date();
    const body = JSON.stringify({
      id,
      type: event,
      createdAt: createdAt.toISOString(),
      organization: alert.org,
      alert: alertBody(alert),
    });
    const delivery: WebhookDelivery = {
      id,
      org: alert.org,
      alertId: alert.id,
      ruleId: alert.ruleId,
      event,
      body,
      state: 'pending',
      attempts: 0,
      lastStatus: null,
      lastError: null,
      lastAttemptAt: null,
      nextAttemptAt: createdAt,
      deliveredAt: null,
      createdAt,
      log: [],
    };
    await this.storage.upsert(WEBHOOK_DELIVERIES, delivery);
    this.enqueue(delivery);
    return delivery;
  }

  /** Picks up the deliveries an earlier run left pending, each when its next attempt is due. */
  async resume(): Promise<number> {
    const { rows } = await this.storage.query(
      WEBHOOK_DELIVERIES,
      { state: 'pending' },
      { orderBy: [{ field: 'createdAt', descending: false }] },
    );
    for (const delivery of rows) this.enqueue(delivery);
    return rows.length;
  }

  /** The deliveries of these alerts, by alert id, oldest first. */
  async forAlerts(org: string, alertIds: readonly string[]): Promise<Map<string, WebhookDelivery[]>> {
    const byAlert = new Map<string, WebhookDelivery[]>();
    const where = anyOf('alertId', alertIds);
    if (!where) return byAlert;
    const { rows } = await this.storage.query(
      WEBHOOK_DELIVERIES,
      { org },
      { where, orderBy: [{ field: 'createdAt', descending: false }] },
    );
    for (const delivery of rows) {
      byAlert.set(delivery.alertId, [...(byAlert.get(delivery.alertId) ?? []), delivery]);
    }
    return byAlert;
  }

  /** Stops sending: an attempt under way is abandoned, not counted, and resumed at the next start. */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.chains.values()]);
  }

  private get closed(): boolean {
    return this.stopping.signal.aborted;
  }

  private enqueue(delivery: WebhookDelivery): void {
    const next = (this.chains.get(delivery.alertId) ?? Promise.resolve()).then(() => this.deliver(delivery));
    this.chains.set(delivery.alertId, next);
    void next.then(() => {
      if (this.chains.get(delivery.alertId) === next) this.chains.delete(delivery.alertId);
    });
  }

  /** Attempts until delivered, refused for good, out of attempts, cancelled, or the server stops. */
  private async deliver(first: WebhookDelivery): Promise<void> {
    let delivery = first;
    try {
      while (delivery.state === 'pending' && !this.closed) {
        const wait = (delivery.nextAttemptAt?.getTime() ?? 0) - Date.now();
        if (wait > 0 && !(await this.sleep(wait))) return;
        const rule = await this.rules.byId(delivery.org, delivery.ruleId);
        if (!rule?.enabled) {
          delivery = {
            ...delivery,
            state: 'cancelled',
            lastError: rule ? 'the rule was disabled' : 'the rule was deleted',
            nextAttemptAt: null,
          };
        } else {
          const attempt = await this.attempt(delivery, rule);
          if (!attempt) return;
          delivery = this.after(delivery, attempt.record, attempt.retryAfterMs);
        }
        await this.storage.upsert(WEBHOOK_DELIVERIES, delivery);
        this.report(delivery);
      }
    } catch (error) {
      // The store failed: the delivery stays as last stored (pending) and is resumed at the next start.
      if (!this.closed) this.log.error({ err: error, delivery: delivery.id }, 'webhook delivery stopped');
    }
  }

  /** One POST; undefined when the server began to stop meanwhile (the attempt does not count). */
  private async attempt(
    delivery: WebhookDelivery,
    rule: AlertRule,
  ): Promise<{ record: DeliveryAttempt; retryAfterMs: number | undefined } | undefined> {
    const attempt = delivery.attempts + 1;
    const at = new Date();
    const timestamp = Math.floor(at.getTime() / 1000);
    let status: number | null = null;
    let error: string | null = null;
    let retryAfter: number | undefined;
    try {
      const response = await fetch(rule.webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'OpenUA-Webhooks/1',
          [WEBHOOK_HEADERS.event]: delivery.event,
          [WEBHOOK_HEADERS.delivery]: delivery.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: sign(rule.webhookSecret, timestamp, delivery.body),
          [WEBHOOK_HEADERS.attempt]: String(attempt),
        },
        body: delivery.body,
        // A redirect could send the alert anywhere: it is a failure, not followed.
        redirect: 'manual',
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      status = response.status;
      retryAfter = retryAfterMs(response.headers.get('retry-after'));
      await response.body?.cancel().catch(() => undefined);
      if (status >= 300 && status < 400) error = `HTTP ${status}: redirects are not followed`;
      else if (status >= 400) error = `HTTP ${status}`;
    } catch (cause) {
      if (this.closed) return undefined;
      error = describe(cause, this.options.timeoutMs);
    }
    return {
      record: {
        attempt,
        at: at.toISOString(),
        status,
        error,
        durationMs: Date.now() - at.getTime(),
      },
      retryAfterMs: retryAfter,
    };
  }

  /** The delivery after one more attempt. */
  private after(
    delivery: WebhookDelivery,
    record: DeliveryAttempt,
    retryAfter: number | undefined,
  ): WebhookDelivery {
    const at = new Date(record.at);
    const base = {
      ...delivery,
      attempts: record.attempt,
      lastStatus: record.status,
      lastError: record.error,
      lastAttemptAt: at,
      log: [...delivery.log, record],
    };
    const ok = record.status !== null && record.status >= 200 && record.status < 300;
    if (ok) return { ...base, state: 'delivered', deliveredAt: new Date(), nextAttemptAt: null };
    if (retryable(record.status) && record.attempt < this.options.maxAttempts) {
      const wait = backoffMs(record.attempt, this.options.retryBaseMs, retryAfter);
      return { ...base, state: 'pending', nextAttemptAt: new Date(Date.now() + wait) };
    }
    return { ...base, state: 'failed', nextAttemptAt: null };
  }

  private report(delivery: WebhookDelivery): void {
    this.observer(delivery.state === 'pending' ? 'retrying' : delivery.state);
    const fields = {
      delivery: delivery.id,
      alert: delivery.alertId,
      event: delivery.event,
      attempts: delivery.attempts,
      lastStatus: delivery.lastStatus,
      lastError: delivery.lastError,
    };
    if (delivery.state === 'delivered') this.log.info(fields, 'webhook delivered');
    else if (delivery.state === 'pending') this.log.warn(fields, 'webhook attempt failed; retrying');
    else this.log.error(fields, `webhook ${delivery.state}`);
  }

  /** Waits; false when the server began to stop meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      const done = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', done);
        resolve(true);
      }, ms);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
