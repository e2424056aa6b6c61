import { Type } from '@sinclair/typebox';
import { invalid } from '../core/errors.ts';
import { compileCheck, oneOf } from '../core/validation.ts';
import { type Alert, type AlertListQuery, type AlertStatus, alertBody } from './alerts.ts';
import { publicDelivery, type WebhookDelivery, type Webhooks } from './webhook.ts';

/** Alerts as the API and the CLI show them, and the filters both take: one shape for both. */

const AlertsQuery = Type.Object(
  {
    ruleId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    status: Type.Optional(oneOf(['firing', 'resolved'])),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$' })),
    offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
    org: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const checkAlertsQuery = compileCheck(AlertsQuery);

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

/** `GET /api/v1/alerts`'s filters, checked. */
export function alertListQuery(raw: unknown): AlertListQuery {
  const violations = checkAlertsQuery(raw);
  if (violations.length > 0) throw invalid(violations);
  const query = raw as { ruleId?: string; status?: AlertStatus; limit?: string; offset?: string };
  return {
    ...(query.ruleId && { ruleId: query.ruleId }),
    ...(query.status && { status: query.status }),
    limit: query.limit === undefined ? 100 : Number(query.limit),
    offset: query.offset === undefined ? 0 : Number(query.offset),
  };
}
