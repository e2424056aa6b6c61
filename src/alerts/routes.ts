import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../server/errors.ts';
import { compileCheck, oneOf } from '../server/validation.ts';
import { type AlertRule, type AlertRules, publicRule } from './alert-rules.ts';
import { type Alert, type AlertListQuery, type AlertStatus, type Alerts, alertBody } from './alerts.ts';
import type { AlertEvaluator } from './evaluator.ts';
import { publicDelivery, type WebhookDelivery, type Webhooks } from './webhook.ts';

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

/** `/api/v1/alert-rules` (admin to change, analytics:read to read) and `/api/v1/alerts` (analytics:read). */
export function alertRoutes(
  rules: AlertRules,
  alerts: Alerts,
  webhooks: Webhooks,
  evaluator: AlertEvaluator,
) {
  return async (app: FastifyInstance) => {
    const read = { config: { privilege: 'analytics:read' as const } };
    const admin = { config: { privilege: 'admin' as const } };
    const isAdmin = (request: FastifyRequest) => request.credential.privileges.has('admin');
    const show = (request: FastifyRequest, rule: AlertRule) => ({
      ...publicRule(rule, { admin: isAdmin(request) }),
      lastEvaluation: evaluator.lastEvaluation(rule.org, rule.id) ?? null,
    });
    const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;

    app.post('/api/v1/alert-rules', admin, async (request, reply) => {
      const rule = await rules.create(request.org, request.body);
      // The secret is answered here, once: no cache may keep it.
      return reply
        .code(201)
        .header('Cache-Control', 'no-store')
        .send({ ...show(request, rule), webhookSecret: rule.webhookSecret });
    });

    app.get('/api/v1/alert-rules', read, async (request) => ({
      rules: (await rules.list(request.org)).map((rule) => show(request, rule)),
    }));

    app.get('/api/v1/alert-rules/:id', read, async (request) =>
      show(request, await rules.get(request.org, idOf(request))),
    );

    app.patch('/api/v1/alert-rules/:id', admin, async (request, reply) => {
      const rule = await rules.update(request.org, idOf(request), request.body);
      const rotated = (request.body as { rotateSecret?: unknown })?.rotateSecret === true;
      if (rotated) reply.header('Cache-Control', 'no-store');
      return { ...show(request, rule), ...(rotated && { webhookSecret: rule.webhookSecret }) };
    });

    app.delete('/api/v1/alert-rules/:id', admin, async (request, reply) => {
      await rules.remove(request.org, idOf(request));
      return reply.code(204).send();
    });

    app.get('/api/v1/alerts', read, async (request) => {
      const page = await alerts.list(request.org, alertListQuery(request.query));
      return { count: page.count, alerts: await showAlerts(webhooks, request.org, page.rows) };
    });

    app.get('/api/v1/alerts/:id', read, async (request) => {
      const [alert] = await showAlerts(webhooks, request.org, [await alerts.get(request.org, idOf(request))]);
      return alert;
    });
  };
}
