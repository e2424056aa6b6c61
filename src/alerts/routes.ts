import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkedByHandler } from '../core/validation.ts';
import {
  type AlertRule,
  AlertRuleInput,
  AlertRulePatch,
  type AlertRules,
  publicRule,
} from './alert-rules.ts';
import {
  AlertAnswerSchema,
  AlertRuleAnswerSchema,
  AlertsQuery,
  alertListQuery,
  showAlerts,
} from './alert-views.ts';
import type { Alerts } from './alerts.ts';
import type { AlertEvaluator } from './evaluator.ts';
import type { Webhooks } from './webhook.ts';

const OrgQuery = Type.Object({
  org: Type.Optional(
    Type.String({ description: "The organization: the credential's own (the master key's: `default`)" }),
  ),
});
const RuleParams = Type.Object({ id: Type.String({ description: "The rule's id, or its name" }) });
type RuleParams = Static<typeof RuleParams>;
const AlertParams = Type.Object({ id: Type.String({ description: "The alert's id" }) });

const webhookSecret = Type.String({
  description: "The key that signs the rule's webhooks (HMAC-SHA256), answered once: keep it",
});
const CreatedRuleSchema = Type.Object({ ...AlertRuleAnswerSchema.properties, webhookSecret });
const ChangedRuleSchema = Type.Object({
  ...AlertRuleAnswerSchema.properties,
  webhookSecret: Type.Optional(webhookSecret),
});

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
    const tags = ['Alerts'];
    const isAdmin = (request: FastifyRequest) => request.credential.privileges.has('admin');
    const show = (request: FastifyRequest, rule: AlertRule) => ({
      ...publicRule(rule, { admin: isAdmin(request) }),
      lastEvaluation: evaluator.lastEvaluation(rule.org, rule.id) ?? null,
    });

    app.post(
      '/api/v1/alert-rules',
      {
        ...admin,
        schema: {
          tags,
          summary: 'Create a breach rule; the answer holds its webhook secret, once',
          description:
            'A threshold rule (gt, ge, lt, le) needs `threshold`; an anomaly rule watches a volume measure and may ' +
            'set `deviations` (default 3). `measure` and `filters` are those of `POST /api/v1/query`.',
          querystring: OrgQuery,
          // Checked with the rule's own rules, so that a refusal lists every violation of the body at once.
          body: checkedByHandler(AlertRuleInput),
          response: { 201: CreatedRuleSchema },
        },
      },
      async (request, reply) => {
        const rule = await rules.create(request.org, request.body);
        // The secret is answered here, once: no cache may keep it.
        return reply
          .code(201)
          .header('Cache-Control', 'no-store')
          .send({ ...show(request, rule), webhookSecret: rule.webhookSecret });
      },
    );

    app.get(
      '/api/v1/alert-rules',
      {
        ...read,
        schema: {
          tags,
          summary: "The organization's breach rules, oldest first",
          querystring: OrgQuery,
          response: { 200: Type.Object({ rules: Type.Array(AlertRuleAnswerSchema) }) },
        },
      },
      async (request) => ({
        rules: (await rules.list(request.org)).map((rule) => show(request, rule)),
      }),
    );

    app.get<{ Params: RuleParams }>(
      '/api/v1/alert-rules/:id',
      {
        ...read,
        schema: {
          tags,
          summary: 'One breach rule, with its last evaluation',
          params: RuleParams,
          querystring: OrgQuery,
          response: { 200: AlertRuleAnswerSchema },
        },
      },
      async (request) => show(request, await rules.get(request.org, request.params.id)),
    );

    app.patch<{ Params: RuleParams; Body: { rotateSecret?: unknown } | null }>(
      '/api/v1/alert-rules/:id',
      {
        ...admin,
        schema: {
          tags,
          summary: 'Change a breach rule; the rule that results is checked whole',
          description: '`rotateSecret: true` gives the rule a new webhook secret, answered once.',
          params: RuleParams,
          querystring: OrgQuery,
          // Checked by the rule's update, against the rule that results.
          body: checkedByHandler(AlertRulePatch),
          response: { 200: ChangedRuleSchema },
        },
      },
      async (request, reply) => {
        const rule = await rules.update(request.org, request.params.id, request.body);
        const rotated = request.body?.rotateSecret === true;
        if (rotated) reply.header('Cache-Control', 'no-store');
        return { ...show(request, rule), ...(rotated && { webhookSecret: rule.webhookSecret }) };
      },
    );

    app.delete<{ Params: RuleParams }>(
      '/api/v1/alert-rules/:id',
      {
        ...admin,
        schema: {
          tags,
          summary: 'Delete a breach rule; its firing alert is resolved',
          params: RuleParams,
          querystring: OrgQuery,
          response: { 204: Type.Null({ description: 'Deleted' }) },
        },
      },
      async (request, reply) => {
        await rules.remove(request.org, request.params.id);
        return reply.code(204).send();
      },
    );

    app.get<{ Querystring: AlertsQuery }>(
      '/api/v1/alerts',
      {
        ...read,
        schema: {
          tags,
          summary: 'Alerts fired by the breach rules, newest first, with their webhook deliveries',
          querystring: AlertsQuery,
          response: {
            200: Type.Object({
              count: Type.Integer({ minimum: 0, description: 'Every match, whatever the page' }),
              alerts: Type.Array(AlertAnswerSchema),
            }),
          },
        },
      },
      async (request) => {
        const page = await alerts.list(request.org, alertListQuery(request.query));
        return { count: page.count, alerts: await showAlerts(webhooks, request.org, page.rows) };
      },
    );

    app.get<{ Params: Static<typeof AlertParams> }>(
      '/api/v1/alerts/:id',
      {
        ...read,
        schema: {
          tags,
          summary: 'One alert, with its webhook deliveries',
          params: AlertParams,
          querystring: OrgQuery,
          response: { 200: AlertAnswerSchema },
        },
      },
      async (request) => {
        const [alert] = await showAlerts(webhooks, request.org, [
          await alerts.get(request.org, request.params.id),
        ]);
        return alert;
      },
    );
  };
}
