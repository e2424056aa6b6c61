import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { oneOf } from '../core/validation.ts';
import { pageOf, pagination, whereOf } from '../query/list-parameters.ts';
import { COMPARISONS } from './alert-rules.ts';
import { type Alert, type AlertListQuery, alertBody } from './alerts.ts';
import { publicDelivery, type WebhookDelivery, type Webhooks } from './webhook.ts';

/** Alerts and rules as the API and the CLI show them, and the filters both take: one shape for both. */

/** `GET /api/v1/alerts`'s query, and `openua alert list`'s filters. */
export const AlertsQuery = Type.Object(
  {
    ruleId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: "Only this rule's alerts" }),
    ),
    status: Type.Optional(oneOf(['firing', 'resolved'])),
    ...pagination(1000),
    org: Type.Optional(
      Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
    ),
  },
  { additionalProperties: false },
);
export type AlertsQuery = Static<typeof AlertsQuery>;

const ALERT_FILTERS = {
  ruleId: { field: 'ruleId', op: 'eq' },
  status: { field: 'status', op: 'eq' },
} as const;

/** An alert with the state of its webhooks: `delivery` (fired) and `resolvedDelivery`. */
function shownAlert(alert: Alert, deliveries: readonly WebhookDelivery[]) {
  const of = (event: WebhookDelivery['event']) => {
    const delivery = deliveries.filter((d) => d.event === event).at(-1);
    return delivery ? publicDelivery(delivery) : null;
  };
  return { ...alertBody(alert), delivery: of('alert.fired'), resolvedDelivery: of('alert.resolved') };
}

/** Alerts as the API and the CLI show them, each with its deliveries. */
export async function showAlerts(webhooks: Webhooks, org: string, list: readonly Alert[]) {
  const deliveries = await webhooks.forAlerts(
    org,
    list.map((a) => a.id),
  );
  return list.map((alert) => shownAlert(alert, deliveries.get(alert.id) ?? []));
}

/** The alerts a query asks for, newest first. */
export const alertListQuery = (query: AlertsQuery): AlertListQuery => ({
  where: whereOf(query, ALERT_FILTERS),
  ...pageOf(query),
});

const nullable = (schema: TSchema) => Type.Union([schema, Type.Null()]);
const time = Type.String({ format: 'date-time' });

const AnomalyFiguresSchema = {
  mean: Type.Number(),
  stddev: Type.Number(),
  spread: Type.Number({ description: 'max(stddev, √mean, 1): the spread z is measured in' }),
  z: Type.Number(),
  deviations: Type.Number(),
  historyWindows: Type.Integer(),
  lower: Type.Number({ description: 'Values below this are dips' }),
  upper: Type.Number({ description: 'Values above this are spikes' }),
};

const DeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'Also the X-OpenUA-Delivery header of every attempt' }),
    event: oneOf(['alert.fired', 'alert.resolved']),
    state: oneOf(['pending', 'delivered', 'failed', 'cancelled']),
    attempts: Type.Integer({ minimum: 0 }),
    lastStatus: nullable(Type.Integer({ description: "The receiver's HTTP status" })),
    lastError: nullable(Type.String()),
    lastAttemptAt: nullable(time),
    nextAttemptAt: nullable(time),
    deliveredAt: nullable(time),
    createdAt: time,
    log: Type.Array(
      Type.Object({
        attempt: Type.Integer({ minimum: 1 }),
        at: time,
        status: nullable(Type.Integer()),
        error: nullable(Type.String()),
        durationMs: Type.Number(),
      }),
    ),
  },
  { description: "A webhook delivery: its state and every attempt's outcome" },
);

/** An alert as `GET /api/v1/alerts` answers it: a snapshot of its rule, the breach, and its deliveries. */
export const AlertAnswerSchema = Type.Object({
  id: Type.String(),
  ruleId: Type.String(),
  ruleName: Type.String(),
  status: oneOf(['firing', 'resolved']),
  measure: Type.Unknown(),
  filters: Type.Array(Type.Unknown()),
  comparison: oneOf(COMPARISONS),
  threshold: nullable(Type.Number()),
  value: Type.Number({ description: "The measure's value over the window that breached" }),
  windowMinutes: Type.Integer(),
  windowFrom: time,
  windowTo: time,
  anomaly: nullable(Type.Object({ kind: oneOf(['spike', 'dip']), ...AnomalyFiguresSchema })),
  firedAt: time,
  resolvedAt: nullable(time),
  resolvedValue: nullable(
    Type.Number({ description: "The measure's value when it came back within bounds" }),
  ),
  resolvedReason: nullable(oneOf(['recovered', 'ruleDisabled', 'ruleDeleted'])),
  delivery: nullable(DeliverySchema),
  resolvedDelivery: nullable(DeliverySchema),
});

/** A rule as the API answers it (never its secret; a reader sees only its webhook's origin), with its last evaluation. */
export const AlertRuleAnswerSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  measure: Type.Unknown(),
  filters: Type.Array(Type.Unknown()),
  comparison: oneOf(COMPARISONS),
  threshold: nullable(Type.Number()),
  deviations: nullable(Type.Number()),
  windowMinutes: Type.Integer(),
  webhookUrl: Type.String({ description: 'Whole for an admin; its origin and `/…` for a reader' }),
  enabled: Type.Boolean(),
  createdAt: time,
  updatedAt: time,
  lastEvaluation: nullable(
    Type.Object({
      at: time,
      value: nullable(Type.Number()),
      breaching: nullable(
        Type.Boolean({ description: 'null: no verdict (no value, or too little history)' }),
      ),
      anomaly: nullable(
        Type.Union([
          Type.Object({
            kind: Type.Literal('insufficientHistory'),
            historyWindows: Type.Integer(),
            minHistory: Type.Integer(),
          }),
          Type.Object({ kind: oneOf(['normal', 'spike', 'dip']), ...AnomalyFiguresSchema }),
        ]),
      ),
      error: nullable(Type.String()),
    }),
  ),
});
