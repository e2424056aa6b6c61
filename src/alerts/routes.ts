import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AlertRule, type AlertRules, publicRule } from './alert-rules.ts';
import { alertListQuery, showAlerts } from './alert-views.ts';
import type { Alerts } from './alerts.ts';
import type { AlertEvaluator } from './evaluator.ts';
import type { Webhooks } from './webhook.ts';

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
