import type { Organizations } from '../orgs/organizations.ts';
import type { Insights } from '../query/insights.ts';
import { TIME } from '../query/outputs.ts';
import { QUERY_MAX_LIMIT } from '../query/query-spec.ts';
import type { Scalar } from '../storage/storage.ts';
import { type AlertRule, type AlertRules, ruleSpec } from './alert-rules.ts';
import type { Alerts, AnomalyDetail } from './alerts.ts';
import { ANOMALY_DEFAULTS, type AnomalyVerdict, detectAnomaly, foldBuckets, historyPlan } from './anomaly.ts';
import { type AlertLogger, SILENT, type Webhooks } from './webhook.ts';

/**
 * Continuous evaluation: every `intervalSeconds`, each enabled rule of each organization is measured over
 * its window, through Insights (what `POST /api/v1/query` answers for the same spec). A rule that breaches
 * and has no firing alert fires one; a rule with a firing alert that is back within bounds resolves it.
 */

/** What the last evaluation of a rule found (kept in memory; shown with the rule). */
export interface Evaluation {
  at: Date;
  /** The measure over the window, or null when it has no value (an average over no events). */
  value: number | null;
  /** Null when there is no verdict: no value, or too little history for an anomaly rule. */
  breaching: boolean | null;
  anomaly: AnomalyVerdict | null;
  error: string | null;
}

interface Measured {
  value: number | null;
  from: Date;
  to: Date;
  breaching: boolean | null;
  anomaly: AnomalyVerdict | null;
}

const COMPARE = {
  gt: (a: number, b: number) => a > b,
  ge: (a: number, b: number) => a >= b,
  lt: (a: number, b: number) => a < b,
  le: (a: number, b: number) => a <= b,
} as const;

/** A measure cell as a number: null stays null (no value), anything that is not a number is no value. */
function numeric(value: Scalar | undefined): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** The measure's column: the first that is not the time bucket (a rule's spec has no dimensions). */
const measureColumn = (columns: readonly string[]) => columns.find((c) => c !== TIME) as string;

export class AlertEvaluator {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private log: AlertLogger = SILENT;
  private readonly last = new Map<string, Evaluation>();
  /** One evaluation or change at a time per rule. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly organizations: Organizations,
    private readonly rules: AlertRules,
    private readonly alerts: Alerts,
    private readonly webhooks: Webhooks,
    private readonly insights: Insights,
    private readonly intervalSeconds: number,
  ) {
    rules.onChange((before, after) => this.ruleChanged(before, after));
  }

  /** Resumes pending webhooks and starts evaluating every interval (never when the interval is 0). */
  async start(log: AlertLogger = SILENT): Promise<void> {
    this.log = log;
    this.webhooks.setLogger(log);
    const resumed = await this.webhooks.resume();
    if (resumed > 0) log.info({ deliveries: resumed }, 'resuming pending alert webhooks');
    if (this.intervalSeconds > 0 && !this.stopped) {
      this.timer = setInterval(() => void this.tick(), this.intervalSeconds * 1000);
      this.timer.unref();
    }
  }

  /** Evaluates every enabled rule once (a tick still under way is joined, not doubled). */
  tick(): Promise<void> {
    this.running ??= this.evaluateAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops the timer, waits for the evaluation under way, and stops the webhooks. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.webhooks.close();
  }

  lastEvaluation(org: string, ruleId: string): Evaluation | undefined {
    return this.last.get(`${org}/${ruleId}`);
  }

  private async evaluateAll(): Promise<void> {
    try {
      for (const org of await this.organizations.list()) {
        for (const rule of await this.rules.list(org.id)) {
          if (this.stopped) return;
          if (rule.enabled) await this.evaluate(rule.org, rule.id);
        }
      }
    } catch (error) {
      this.log.error({ err: error }, 'alert rules could not be read');
    }
  }

  /** Evaluates one rule now. An error is logged and kept as its last evaluation; it never escapes. */
  evaluate(org: string, ruleId: string): Promise<Evaluation | undefined> {
    return this.locked(org, ruleId, async () => {
      const rule = await this.rules.byId(org, ruleId);
      if (!rule?.enabled || this.stopped) return undefined;
      const at = new Date();
      let evaluation: Evaluation;
      try {
        const measured = await this.measure(rule, at);
        await this.act(rule, measured);
        const { value, breaching, anomaly } = measured;
        evaluation = { at, value, breaching, anomaly, error: null };
      } catch (error) {
        this.log.error({ err: error, org, rule: rule.id, name: rule.name }, 'alert rule evaluation failed');
        const message = error instanceof Error ? error.message : String(error);
        evaluation = { at, value: null, breaching: null, anomaly: null, error: message };
      }
      this.last.set(`${org}/${ruleId}`, evaluation);
      return evaluation;
    });
  }

  private async measure(rule: AlertRule, now: Date): Promise<Measured> {
    const from = new Date(now.getTime() - rule.windowMinutes * 60_000);
    const answer = await this.insights.run(rule.org, ruleSpec(rule, from, now), now);
    const value = numeric(answer.rows[0]?.[measureColumn(answer.columns)]);
    if (rule.comparison !== 'anomaly') {
      const breaching =
        value === null || rule.threshold === null ? null : COMPARE[rule.comparison](value, rule.threshold);
      return { value, from, to: now, breaching, anomaly: null };
    }
    // The history in one bucketed query, folded into windows of the rule's length.
    const plan = historyPlan(now, rule.windowMinutes);
    const history = await this.insights.run(
      rule.org,
      ruleSpec(rule, plan.from, plan.to, {
        granularity: plan.granularity,
        timeZone: 'UTC',
        limit: QUERY_MAX_LIMIT,
      }),
      now,
    );
    const column = measureColumn(history.columns);
    const buckets = history.rows.map((row) => ({
      time: row[TIME] as Date,
      value: numeric(row[column]) ?? 0,
    }));
    const anomaly = detectAnomaly(value ?? 0, foldBuckets(plan, buckets), {
      deviations: rule.deviations ?? ANOMALY_DEFAULTS.deviations,
      minHistory: ANOMALY_DEFAULTS.minHistory,
    });
    const breaching = anomaly.kind === 'insufficientHistory' ? null : anomaly.kind !== 'normal';
    return { value: value ?? 0, from, to: now, breaching, anomaly };
  }

  /** Fires on a breach that has no firing alert; resolves the firing alert of a rule back within bounds. */
  private async act(rule: AlertRule, measured: Measured): Promise<void> {
    if (measured.breaching === null) return;
    const open = await this.alerts.firing(rule.org, rule.id);
    if (measured.breaching && !open && measured.value !== null) {
      const { anomaly } = measured;
      const detail: AnomalyDetail | null =
        anomaly && anomaly.kind !== 'insufficientHistory' && anomaly.kind !== 'normal'
          ? { ...anomaly, kind: anomaly.kind }
          : null;
      const alert = await this.alerts.open(rule, {
        value: measured.value,
        from: measured.from,
        to: measured.to,
        anomaly: detail,
      });
      this.log.warn(
        { org: rule.org, rule: rule.id, name: rule.name, alert: alert.id, value: alert.value },
        'alert fired',
      );
      await this.webhooks.send(alert, 'alert.fired');
    } else if (!measured.breaching && open) {
      const resolved = await this.alerts.resolve(open, 'recovered', measured.value);
      this.log.info(
        { org: rule.org, rule: rule.id, alert: open.id, value: measured.value },
        'alert resolved',
      );
      await this.webhooks.send(resolved, 'alert.resolved');
    }
  }

  /** A rule disabled or deleted closes its firing alert (no webhook); other changes apply at the next evaluation. */
  private async ruleChanged(before: AlertRule, after: AlertRule | undefined): Promise<void> {
    if (after?.enabled) return;
    await this.locked(before.org, before.id, async () => {
      const open = await this.alerts.firing(before.org, before.id);
      if (open) await this.alerts.resolve(open, after ? 'ruleDisabled' : 'ruleDeleted', null);
    });
    this.last.delete(`${before.org}/${before.id}`);
  }

  private locked<T>(org: string, ruleId: string, work: () => Promise<T>): Promise<T> {
    const key = `${org}/${ruleId}`;
    const next = (this.locks.get(key) ?? Promise.resolve()).then(work, work);
    const settled = next.catch(() => undefined);
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return next;
  }
}
