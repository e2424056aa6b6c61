import { randomBytes, randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { conflict, invalid, notFound, OpenUAError, type Violation } from '../core/errors.ts';
import { compileCheck, oneOf, printable } from '../core/validation.ts';
import type { Dimension, Dimensions } from '../query/dimensions.ts';
import { resolveQuery } from '../query/query-spec.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import { ANOMALY_DEFAULTS, anomalyWindowProblem, VOLUME_MEASURES } from './anomaly.ts';

/**
 * Breach rules: a measure of the query API over a scope (its filters) and a window, compared with a
 * threshold, or watched for anomalies. Each rule has its own webhook and the secret that signs it.
 */

export const THRESHOLD_COMPARISONS = ['gt', 'ge', 'lt', 'le'] as const;
export const COMPARISONS = [...THRESHOLD_COMPARISONS, 'anomaly'] as const;
export type RuleComparison = (typeof COMPARISONS)[number];
export const MAX_WINDOW_MINUTES = 7 * 24 * 60;

export interface AlertRule {
  id: string;
  org: string;
  /** Unique in its organization, so the CLI can name a rule. */
  name: string;
  /** Any measure of `POST /api/v1/query`: `count`, `{fn, field}`, a KPI… */
  measure: unknown;
  /** Query filters: the rule's scope. */
  filters: unknown[];
  comparison: RuleComparison;
  /** For gt/ge/lt/le; null for anomaly rules. */
  threshold: number | null;
  /** For anomaly rules: how many spreads from the mean is anomalous (k); null elsewhere. */
  deviations: number | null;
  windowMinutes: number;
  webhookUrl: string;
  /**
   * The HMAC-SHA256 key that signs this rule's webhooks. The server signs with it, so (like an organization's
   * token secret) it is stored as is, not hashed; it is answered once, at creation (or rotation).
   */
  webhookSecret: string;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const ALERT_RULES: EntityTable<AlertRule> = {
  name: 'alert_rules',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    name: 'text',
    measure: 'json',
    filters: 'json',
    comparison: 'text',
    threshold: 'json',
    deviations: 'json',
    windowMinutes: 'integer',
    webhookUrl: 'text',
    webhookSecret: 'text',
    enabled: 'boolean',
    createdAt: 'timestamp',
    updatedAt: 'timestamp',
  },
};

const fields = {
  name: printable({ minLength: 1, maxLength: 128 }),
  measure: Type.Unknown(),
  filters: Type.Array(Type.Unknown(), { maxItems: 50 }),
  comparison: oneOf(COMPARISONS),
  threshold: Type.Number(),
  deviations: Type.Number({ minimum: 1, maximum: 100 }),
  windowMinutes: Type.Integer({ minimum: 1, maximum: MAX_WINDOW_MINUTES }),
  webhookUrl: printable({ minLength: 1, maxLength: 2048 }),
  enabled: Type.Boolean(),
};
/**
 * `POST /api/v1/alert-rules` and `openua alert-rule create`. Checked by `create`, with the rule's own rules, so
 * that a refusal lists every violation of the body at once.
 */
export const AlertRuleInput = Type.Object(
  {
    name: fields.name,
    measure: fields.measure,
    filters: Type.Optional(fields.filters),
    comparison: fields.comparison,
    threshold: Type.Optional(fields.threshold),
    deviations: Type.Optional(fields.deviations),
    windowMinutes: fields.windowMinutes,
    webhookUrl: fields.webhookUrl,
    enabled: Type.Optional(fields.enabled),
  },
  { additionalProperties: false },
);
const checkCreate = compileCheck(AlertRuleInput);

/** A PATCH's changes once the nulls that clear `threshold` and `deviations` are taken out. */
const AlertRuleChanges = Type.Object(
  {
    name: Type.Optional(fields.name),
    measure: Type.Optional(fields.measure),
    filters: Type.Optional(fields.filters),
    comparison: Type.Optional(fields.comparison),
    threshold: Type.Optional(fields.threshold),
    deviations: Type.Optional(fields.deviations),
    windowMinutes: Type.Optional(fields.windowMinutes),
    webhookUrl: Type.Optional(fields.webhookUrl),
    enabled: Type.Optional(fields.enabled),
    rotateSecret: Type.Optional(Type.Boolean({ description: 'true: a new webhook secret, answered once' })),
  },
  { additionalProperties: false },
);
const checkPatch = compileCheck(AlertRuleChanges);

/** `PATCH /api/v1/alert-rules/{id}` and `openua alert-rule update`: the fields to change; null clears one. */
export const AlertRulePatch = Type.Object(
  {
    ...AlertRuleChanges.properties,
    threshold: Type.Optional(Type.Union([fields.threshold, Type.Null()])),
    deviations: Type.Optional(Type.Union([fields.deviations, Type.Null()])),
  },
  { additionalProperties: false },
);

/** The rule's fields a body sets; threshold and deviations may be null in a PATCH, to clear them. */
type RuleFields = Pick<
  AlertRule,
  | 'name'
  | 'measure'
  | 'filters'
  | 'comparison'
  | 'threshold'
  | 'deviations'
  | 'windowMinutes'
  | 'webhookUrl'
  | 'enabled'
>;

/** Why a webhook URL cannot be posted to, or undefined. */
function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username || url.password) {
    return 'must not hold credentials (user:password@); put a token in the path or the query instead';
  }
  return undefined;
}

/** The query spec a rule's measure is evaluated with over [from, to): the query API's meaning, exactly. */
export function ruleSpec(
  rule: Pick<AlertRule, 'measure' | 'filters'>,
  from: Date,
  to: Date,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    measures: [rule.measure],
    ...(rule.filters.length > 0 && { filters: rule.filters }),
    from: from.toISOString(),
    to: to.toISOString(),
    ...extra,
  };
}

/** A query-spec violation as the rule's own field: `measures[0].fn` → `measure.fn`. */
const asRuleField = (violation: Violation): Violation => ({
  ...violation,
  field: violation.field.replace(/^measures\[0\]/, 'measure'),
});

/**
 * Checks a whole rule (fields whose own type already failed are skipped): a threshold for gt/ge/lt/le and
 * none for anomaly, a volume measure and a readable window for anomaly, a webhook URL that can be posted
 * to, and a measure and filters that the query API accepts. Pure, given the organization's dimensions.
 */
export function checkRule(
  rule: Partial<RuleFields>,
  dimensions: ReadonlyMap<string, Dimension>,
  now = new Date(),
): Violation[] {
  const violations: Violation[] = [];
  const { comparison, threshold, deviations } = rule;
  if (comparison === 'anomaly') {
    if (threshold !== undefined && threshold !== null) {
      violations.push({
        field: 'threshold',
        rule: 'notForAnomaly',
        message:
          'an anomaly rule has no threshold: its bound is `deviations` spreads from the recent mean (send null to clear it)',
        received: threshold,
      });
    }
    const volume = VOLUME_MEASURES as readonly unknown[];
    if (rule.measure !== undefined && !volume.includes(rule.measure)) {
      violations.push({
        field: 'measure',
        rule: 'volumeMeasure',
        limit: VOLUME_MEASURES,
        message: `an anomaly rule watches a volume measure: one of ${VOLUME_MEASURES.join(', ')}`,
        received: rule.measure,
      });
    } else if (typeof rule.measure === 'string' && typeof rule.windowMinutes === 'number') {
      const problem = anomalyWindowProblem(rule.measure, rule.windowMinutes);
      if (problem) {
        violations.push({
          field: 'windowMinutes',
          rule: 'anomalyWindow',
          message: problem,
          received: rule.windowMinutes,
        });
      }
    }
  } else if (comparison !== undefined && (THRESHOLD_COMPARISONS as readonly string[]).includes(comparison)) {
    if (threshold === undefined || threshold === null) {
      violations.push({
        field: 'threshold',
        rule: 'required',
        message: `is required when comparison is ${comparison}`,
        received: threshold,
      });
    }
    if (deviations !== undefined && deviations !== null) {
      violations.push({
        field: 'deviations',
        rule: 'anomalyOnly',
        message: 'only an anomaly rule has deviations (send null to clear it)',
        received: deviations,
      });
    }
  }
  if (typeof rule.webhookUrl === 'string') {
    const problem = urlProblem(rule.webhookUrl);
    if (problem)
      violations.push({ field: 'webhookUrl', rule: 'url', message: problem, received: rule.webhookUrl });
  }
  if (rule.measure !== undefined && (rule.filters === undefined || Array.isArray(rule.filters))) {
    try {
      resolveQuery(
        ruleSpec(
          { measure: rule.measure, filters: rule.filters ?? [] },
          new Date(now.getTime() - 60_000),
          now,
        ),
        dimensions,
        now,
      );
    } catch (error) {
      if (!(error instanceof OpenUAError)) throw error;
      violations.push(...error.violationList().map(asRuleField));
    }
  }
  return violations;
}

/** A rule as the API answers it: never its secret; a reader sees only the webhook's origin (a URL may be a capability). */
export function publicRule(rule: AlertRule, options: { admin: boolean }) {
  const { org: _org, webhookSecret: _secret, ...shown } = rule;
  return options.admin ? shown : { ...shown, webhookUrl: `${new URL(rule.webhookUrl).origin}/…` };
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

/** What another part does when a rule changes: `after` is undefined when it was deleted. */
export type RuleListener = (before: AlertRule, after: AlertRule | undefined) => Promise<void>;

export class AlertRules {
  private readonly listeners: RuleListener[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly dimensions: Dimensions,
  ) {}

  onChange(listener: RuleListener): void {
    this.listeners.push(listener);
  }

  /** Creates a rule; the answer carries its webhook secret, which is never shown again. */
  async create(org: string, body: unknown): Promise<AlertRule> {
    const violations = checkCreate(body);
    const input = (body ?? {}) as Partial<RuleFields>;
    violations.push(...checkRule(input, await this.dimensions.byName(org)));
    if (violations.length > 0) throw invalid(violations);
    await this.nameIsFree(org, input.name as string);
    const now = new Date();
    const rule: AlertRule = {
      id: randomUUID(),
      org,
      name: input.name as string,
      measure: input.measure,
      filters: input.filters ?? [],
      comparison: input.comparison as RuleComparison,
      threshold: input.comparison === 'anomaly' ? null : (input.threshold as number),
      deviations: input.comparison === 'anomaly' ? (input.deviations ?? ANOMALY_DEFAULTS.deviations) : null,
      windowMinutes: input.windowMinutes as number,
      webhookUrl: input.webhookUrl as string,
      webhookSecret: newSecret(),
      enabled: input.enabled ?? true,
      createdAt: now,
      updatedAt: now,
    };
    await this.storage.upsert(ALERT_RULES, rule);
    return rule;
  }

  list(org: string): Promise<AlertRule[]> {
    return this.storage
      .query(ALERT_RULES, { org }, { orderBy: [{ field: 'createdAt', descending: false }] })
      .then((page) => page.rows);
  }

  async byId(org: string, id: string): Promise<AlertRule | undefined> {
    const [rule] = await this.storage.find(ALERT_RULES, { org, id });
    return rule;
  }

  /** The rule with this id or name, if any. */
  async find(org: string, idOrName: string): Promise<AlertRule | undefined> {
    const [byId] = await this.storage.find(ALERT_RULES, { org, id: idOrName });
    if (byId) return byId;
    const [byName] = await this.storage.find(ALERT_RULES, { org, name: idOrName });
    return byName;
  }

  async get(org: string, idOrName: string): Promise<AlertRule> {
    const rule = await this.find(org, idOrName);
    if (!rule) throw notFound(`No alert rule ${JSON.stringify(idOrName)}`);
    return rule;
  }

  /**
   * Changes the fields given (threshold and deviations may be null, to clear them); the rule that results is
   * checked whole. `rotateSecret: true` gives the rule a new webhook secret, answered once.
   */
  async update(org: string, idOrName: string, body: unknown): Promise<AlertRule> {
    const before = await this.get(org, idOrName);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(checkPatch(body));
    const changes = { ...(body as Record<string, unknown>) };
    const cleared: string[] = [];
    for (const name of ['threshold', 'deviations']) {
      if (changes[name] === null) {
        cleared.push(name);
        delete changes[name];
      }
    }
    const violations = checkPatch(changes);
    const { rotateSecret, ...values } = changes as Partial<RuleFields> & { rotateSecret?: boolean };
    const merged: Partial<RuleFields> = { ...before, ...values };
    for (const name of cleared) (merged as Record<string, unknown>)[name] = null;
    // A change of comparison drops what the old kind had and the body does not set again.
    if (values.comparison === 'anomaly' && !('threshold' in values)) merged.threshold = null;
    if (values.comparison !== undefined && values.comparison !== 'anomaly' && !('deviations' in values)) {
      merged.deviations = null;
    }
    // An anomaly rule's deviations default as at creation.
    if (merged.comparison === 'anomaly' && merged.deviations == null) {
      merged.deviations = ANOMALY_DEFAULTS.deviations;
    }
    violations.push(...checkRule(merged, await this.dimensions.byName(org)));
    if (violations.length > 0) throw invalid(violations);
    if (merged.name !== before.name) await this.nameIsFree(org, merged.name as string);
    const after: AlertRule = {
      ...before,
      ...(merged as RuleFields),
      ...(rotateSecret && { webhookSecret: newSecret() }),
      updatedAt: new Date(),
    };
    await this.storage.upsert(ALERT_RULES, after);
    for (const listener of this.listeners) await listener(before, after);
    return after;
  }

  async remove(org: string, idOrName: string): Promise<AlertRule> {
    const rule = await this.get(org, idOrName);
    await this.storage.remove(ALERT_RULES, { org, id: rule.id });
    for (const listener of this.listeners) await listener(rule, undefined);
    return rule;
  }

  private async nameIsFree(org: string, name: string): Promise<void> {
    if ((await this.storage.find(ALERT_RULES, { org, name })).length > 0) {
      throw conflict(`An alert rule named ${JSON.stringify(name)} exists already`);
    }
  }
}
