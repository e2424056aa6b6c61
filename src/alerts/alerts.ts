import { randomUUID } from 'node:crypto';
import { notFound } from '../core/errors.ts';
import type { EntityTable, RecordFilter, RecordPage, RecordQuery, Storage } from '../storage/storage.ts';
import type { AlertRule, RuleComparison } from './alert-rules.ts';
import type { AnomalyFigures } from './anomaly.ts';

/**
 * Alert records: one per breach, from the evaluation that found the rule breaching (after it was not) to the
 * one that found it back within bounds. Each is a snapshot of the rule as it was when it fired.
 */

export type AlertStatus = 'firing' | 'resolved';
/** Why an alert was resolved: the measure came back within bounds, or its rule was disabled or deleted. */
export type ResolvedReason = 'recovered' | 'ruleDisabled' | 'ruleDeleted';

/** What an anomaly alert adds: the history it was judged against (see anomaly.ts). */
export type AnomalyDetail = { kind: 'spike' | 'dip' } & AnomalyFigures;

export interface Alert {
  id: string;
  org: string;
  ruleId: string;
  ruleName: string;
  status: AlertStatus;
  measure: unknown;
  filters: unknown[];
  comparison: RuleComparison;
  threshold: number | null;
  /** The measure's value over the window that breached. */
  value: number;
  windowMinutes: number;
  windowFrom: Date;
  windowTo: Date;
  anomaly: AnomalyDetail | null;
  firedAt: Date;
  resolvedAt: Date | null;
  /** The measure's value when it came back within bounds. */
  resolvedValue: number | null;
  resolvedReason: ResolvedReason | null;
}

export const ALERTS: EntityTable<Alert> = {
  name: 'alerts',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    ruleId: 'text',
    ruleName: 'text',
    status: 'text',
    measure: 'json',
    filters: 'json',
    comparison: 'text',
    threshold: 'json',
    value: 'json',
    windowMinutes: 'integer',
    windowFrom: 'timestamp',
    windowTo: 'timestamp',
    anomaly: 'json',
    firedAt: 'timestamp',
    resolvedAt: 'timestamp',
    resolvedValue: 'json',
    resolvedReason: 'text',
  },
};

/** Which alerts a list holds (filters on the alerts' fields), and its page. */
export type AlertListQuery = Required<Pick<RecordQuery, 'limit' | 'offset'>> & Pick<RecordQuery, 'where'>;

/** An alert without its organization, as webhooks and the API show it. */
export const alertBody = ({ org: _org, ...alert }: Alert) => alert;

export class Alerts {
  constructor(private readonly storage: Storage) {}

  async open(
    rule: AlertRule,
    breach: { value: number; from: Date; to: Date; anomaly: AnomalyDetail | null },
  ): Promise<Alert> {
    const alert: Alert = {
      id: randomUUID(),
      org: rule.org,
      ruleId: rule.id,
      ruleName: rule.name,
      status: 'firing',
      measure: rule.measure,
      filters: rule.filters,
      comparison: rule.comparison,
      threshold: rule.threshold,
      value: breach.value,
      windowMinutes: rule.windowMinutes,
      windowFrom: breach.from,
      windowTo: breach.to,
      anomaly: breach.anomaly,
      firedAt: new Date(),
      resolvedAt: null,
      resolvedValue: null,
      resolvedReason: null,
    };
    await this.storage.upsert(ALERTS, alert);
    return alert;
  }

  async resolve(alert: Alert, reason: ResolvedReason, value: number | null): Promise<Alert> {
    const resolved: Alert = {
      ...alert,
      status: 'resolved',
      resolvedAt: new Date(),
      resolvedValue: value,
      resolvedReason: reason,
    };
    await this.storage.upsert(ALERTS, resolved);
    return resolved;
  }

  /** The rule's alert that is still firing, if any. */
  async firing(org: string, ruleId: string): Promise<Alert | undefined> {
    const [alert] = await this.storage.find(ALERTS, { org, ruleId, status: 'firing' });
    return alert;
  }

  /** Newest first. */
  list(org: string, query: AlertListQuery): Promise<RecordPage<Alert>> {
    return this.storage.query(
      ALERTS,
      { org },
      { ...query, orderBy: [{ field: 'firedAt', descending: true }], count: true },
    );
  }

  async get(org: string, id: string): Promise<Alert> {
    const [alert] = await this.storage.find(ALERTS, { org, id });
    if (!alert) throw notFound(`No alert ${JSON.stringify(id)}`);
    return alert;
  }
}

/** Any of these values of a field, as a record filter; undefined for none. */
export function anyOf(field: string, values: readonly string[]): RecordFilter | undefined {
  return values.length === 0 ? undefined : { kind: 'in', field, values: [...values] };
}
