import type { Static, TSchema } from '@sinclair/typebox';
import { publicRule } from '../alerts/alert-rules.ts';
import { AlertsQuery, alertListQuery, showAlerts } from '../alerts/alert-views.ts';
import { ApiKeyInput, publicApiKey } from '../auth/api-keys.ts';
import type { Privilege } from '../auth/privileges.ts';
import { SignInput } from '../auth/search-tokens.ts';
import { type EntitySet, KPI_DEFINITIONS, PROVIDERS } from '../channel/entity-sets.ts';
import { showRecord } from '../channel/record-body.ts';
import type { Config } from '../core/config.ts';
import { type ErrorCode, ErrorCodes, invalid, OpenUAError, type Violation } from '../core/errors.ts';
import { compileCheck } from '../core/validation.ts';
import { OrganizationInput, OrganizationSettings, publicOrganization } from '../orgs/organizations.ts';
import { cliActor } from '../privacy/audit-log.ts';
import { AuditQuerySchema, auditQueryOf } from '../privacy/audit-routes.ts';
import type { Services } from '../startup/services.ts';
import { openStorage } from '../storage/open-storage.ts';
import { StoreBusyError } from '../storage/storage.ts';
import { commandServices } from './command-services.ts';
import { storeProblem } from './start-errors.ts';

/** The configuration records the CLI manages, by their admin API path. */
type ConfigKind = 'providers' | 'kpi-definitions';
const CONFIG_SETS: Record<ConfigKind, EntitySet> = {
  providers: PROVIDERS,
  'kpi-definitions': KPI_DEFINITIONS,
};

/** What the admin commands need, whether they open the store themselves or ask a running server. */
export interface AdminClient {
  createOrg(id: string, name?: string): Promise<unknown>;
  listOrgs(): Promise<unknown>;
  updateOrg(id: string, settings: Record<string, unknown>): Promise<unknown>;
  createRecord(kind: ConfigKind, org: string, input: Record<string, unknown>): Promise<unknown>;
  listRecords(kind: ConfigKind, org: string): Promise<unknown>;
  updateRecord(
    kind: ConfigKind,
    org: string,
    idOrName: string,
    input: Record<string, unknown>,
  ): Promise<unknown>;
  createKey(org: string, name: string, privileges: Privilege[]): Promise<{ id: string; key: string }>;
  listKeys(org: string): Promise<unknown>;
  revokeKey(org: string, id: string): Promise<unknown>;
  signToken(org: string, input: SignInput): Promise<{ token: string; expiresAt: Date | string }>;
  /** Breach rules (the answer to create carries the webhook secret, once) and their alerts. */
  createAlertRule(org: string, input: Record<string, unknown>): Promise<unknown>;
  listAlertRules(org: string): Promise<unknown>;
  updateAlertRule(org: string, idOrName: string, input: Record<string, unknown>): Promise<unknown>;
  deleteAlertRule(org: string, idOrName: string): Promise<unknown>;
  /** `filters`: GET /api/v1/alerts's query (ruleId, status, limit), as strings. */
  listAlerts(org: string, filters: Record<string, string>): Promise<unknown>;
  /** `filters`: GET /api/v1/audit's query (action, from, to, subject…), as strings. */
  listAudit(
    org: string,
    filters: Record<string, string>,
  ): Promise<{ entries: unknown[]; next: string | null }>;
  close(): Promise<void>;
}

/**
 * A command's input checked against the schema its admin API route declares: the same refusal, with the same
 * violations, whether the command opens the store or asks a server.
 */
function checked<T extends TSchema>(schema: T, input: unknown): Static<T> {
  const violations = compileCheck(schema)(input);
  if (violations.length > 0) throw invalid(violations);
  return input as Static<T>;
}

/** Works on the store directly; on DuckDB, only possible while no server holds its file. */
class LocalAdmin implements AdminClient {
  constructor(private readonly services: Services) {}
  // Each change is recorded (actor: the OS user) before the command says it is done, as the admin routes do.
  async createOrg(id: string, name?: string) {
    const org = await this.services.organizations.create(checked(OrganizationInput, { id, name }));
    await this.services.audit.record({
      org: org.id,
      actor: cliActor(),
      action: 'org.create',
      target: org.id,
      details: { name: org.name },
    });
    return publicOrganization(org);
  }
  async listOrgs() {
    return (await this.services.organizations.list()).map(publicOrganization);
  }
  async updateOrg(id: string, settings: Record<string, unknown>) {
    const org = await this.services.organizations.update(id, checked(OrganizationSettings, settings));
    await this.services.audit.record({
      org: org.id,
      actor: cliActor(),
      action: 'org.update',
      target: org.id,
      details: { settings },
    });
    return publicOrganization(org);
  }
  async createRecord(kind: ConfigKind, org: string, input: Record<string, unknown>) {
    await this.services.organizations.require(org);
    const set = CONFIG_SETS[kind];
    return showRecord(set, await this.services.channelRecords.create(set, org, input, 'fields'), 'fields');
  }
  async listRecords(kind: ConfigKind, org: string) {
    await this.services.organizations.require(org);
    const set = CONFIG_SETS[kind];
    const { rows } = await this.services.channelRecords.list(set, org, {
      orderBy: [{ field: 'name', descending: false }],
    });
    return rows.map((row) => showRecord(set, row, 'fields'));
  }
  async updateRecord(kind: ConfigKind, org: string, idOrName: string, input: Record<string, unknown>) {
    const set = CONFIG_SETS[kind];
    const { channelRecords } = this.services;
    const record = await channelRecords.named(set, org, idOrName);
    return showRecord(set, await channelRecords.update(set, org, record.id, input, 'fields'), 'fields');
  }
  async createKey(org: string, name: string, privileges: Privilege[]) {
    await this.services.organizations.require(org);
    const { key, apiKey } = await this.services.apiKeys.create(
      org,
      checked(ApiKeyInput, { name, privileges }),
    );
    await this.services.audit.record({
      org,
      actor: cliActor(),
      action: 'key.create',
      target: apiKey.id,
      details: { name: apiKey.name, privileges: apiKey.privileges },
    });
    return { ...publicApiKey(apiKey), key };
  }
  async listKeys(org: string) {
    await this.services.organizations.require(org);
    return (await this.services.apiKeys.list(org)).map(publicApiKey);
  }
  async revokeKey(org: string, id: string) {
    const revoked = await this.services.apiKeys.revoke(org, id);
    await this.services.audit.record({
      org,
      actor: cliActor(),
      action: 'key.revoke',
      target: id,
      details: { name: revoked.name },
    });
    return publicApiKey(revoked);
  }
  signToken(org: string, input: SignInput) {
    return this.services.searchTokens.sign(org, checked(SignInput, input));
  }
  async createAlertRule(org: string, input: Record<string, unknown>) {
    await this.services.organizations.require(org);
    const rule = await this.services.alertRules.create(org, input);
    return { ...publicRule(rule, { admin: true }), webhookSecret: rule.webhookSecret };
  }
  async listAlertRules(org: string) {
    await this.services.organizations.require(org);
    return (await this.services.alertRules.list(org)).map((rule) => publicRule(rule, { admin: true }));
  }
  async updateAlertRule(org: string, idOrName: string, input: Record<string, unknown>) {
    const rule = await this.services.alertRules.update(org, idOrName, input);
    return {
      ...publicRule(rule, { admin: true }),
      ...(input.rotateSecret === true && { webhookSecret: rule.webhookSecret }),
    };
  }
  async deleteAlertRule(org: string, idOrName: string) {
    await this.services.alertRules.remove(org, idOrName);
    return { deleted: idOrName };
  }
  async listAlerts(org: string, filters: Record<string, string>) {
    await this.services.organizations.require(org);
    const page = await this.services.alerts.list(org, alertListQuery(checked(AlertsQuery, filters)));
    return { count: page.count, alerts: await showAlerts(this.services.webhooks, org, page.rows) };
  }
  async listAudit(org: string, filters: Record<string, string>) {
    await this.services.organizations.require(org);
    return this.services.audit.list(org, auditQueryOf(checked(AuditQuerySchema, filters)));
  }
  close() {
    return this.services.close();
  }
}

/**
 * One request to a running server with a key (the admin commands: the master key), answered as its JSON; a refusal
 * is thrown as the server said it, so a command prints the same field, rule and value a local refusal would.
 */
export async function callServer<T>(
  baseUrl: string,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const answer = (text ? JSON.parse(text) : {}) as T & {
    message?: string;
    code?: string;
    violations?: Violation[];
  };
  // The server's own refusal, said as a local one is (each violation's field, rule and value received).
  if (!response.ok && answer.code && answer.code in ErrorCodes && answer.message)
    throw new OpenUAError(
      answer.code as ErrorCode,
      `${response.status}: ${answer.message}`,
      answer.violations,
    );
  if (!response.ok) throw new Error(`${response.status}: ${answer.message ?? JSON.stringify(answer)}`);
  return answer;
}

/** Asks a running server over HTTP with the master key: the way to administer while it serves. */
class RemoteAdmin implements AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly masterKey: string,
  ) {}
  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return callServer<T>(this.baseUrl, this.masterKey, method, path, body);
  }
  createOrg(id: string, name?: string) {
    return this.call('POST', '/api/v1/orgs', { id, name });
  }
  async listOrgs() {
    return (await this.call<{ orgs: unknown[] }>('GET', '/api/v1/orgs')).orgs;
  }
  updateOrg(id: string, settings: Record<string, unknown>) {
    return this.call('PATCH', `/api/v1/orgs/${encodeURIComponent(id)}`, settings);
  }
  createRecord(kind: ConfigKind, org: string, input: Record<string, unknown>) {
    return this.call('POST', `/api/v1/${kind}?org=${encodeURIComponent(org)}`, input);
  }
  async listRecords(kind: ConfigKind, org: string) {
    return (await this.call<{ items: unknown[] }>('GET', `/api/v1/${kind}?org=${encodeURIComponent(org)}`))
      .items;
  }
  updateRecord(kind: ConfigKind, org: string, idOrName: string, input: Record<string, unknown>) {
    return this.call(
      'PATCH',
      `/api/v1/${kind}/${encodeURIComponent(idOrName)}?org=${encodeURIComponent(org)}`,
      input,
    );
  }
  createKey(org: string, name: string, privileges: Privilege[]) {
    return this.call<{ id: string; key: string }>('POST', `/api/v1/orgs/${encodeURIComponent(org)}/keys`, {
      name,
      privileges,
    });
  }
  async listKeys(org: string) {
    return (await this.call<{ keys: unknown[] }>('GET', `/api/v1/orgs/${encodeURIComponent(org)}/keys`)).keys;
  }
  revokeKey(org: string, id: string) {
    return this.call('DELETE', `/api/v1/orgs/${encodeURIComponent(org)}/keys/${encodeURIComponent(id)}`);
  }
  signToken(org: string, input: SignInput) {
    return this.call<{ token: string; expiresAt: string }>(
      'POST',
      `/api/v1/orgs/${encodeURIComponent(org)}/tokens`,
      input,
    );
  }
  createAlertRule(org: string, input: Record<string, unknown>) {
    return this.call('POST', `/api/v1/alert-rules?org=${encodeURIComponent(org)}`, input);
  }
  async listAlertRules(org: string) {
    return (
      await this.call<{ rules: unknown[] }>('GET', `/api/v1/alert-rules?org=${encodeURIComponent(org)}`)
    ).rules;
  }
  updateAlertRule(org: string, idOrName: string, input: Record<string, unknown>) {
    return this.call(
      'PATCH',
      `/api/v1/alert-rules/${encodeURIComponent(idOrName)}?org=${encodeURIComponent(org)}`,
      input,
    );
  }
  async deleteAlertRule(org: string, idOrName: string) {
    await this.call(
      'DELETE',
      `/api/v1/alert-rules/${encodeURIComponent(idOrName)}?org=${encodeURIComponent(org)}`,
    );
    return { deleted: idOrName };
  }
  listAlerts(org: string, filters: Record<string, string>) {
    return this.call('GET', `/api/v1/alerts?${new URLSearchParams({ ...filters, org })}`);
  }
  listAudit(org: string, filters: Record<string, string>) {
    return this.call<{ entries: unknown[]; next: string | null }>(
      'GET',
      `/api/v1/audit?${new URLSearchParams({ ...filters, org })}`,
    );
  }
  async close() {}
}

/**
 * Opens the store when it is free. When a server holds it, falls back to that server's HTTP API with
 * OPENUA_MASTER_KEY (DuckDB lets one process at a time open a file for writing; a ClickHouse store is never held).
 */
export async function openAdmin(config: Config, serverUrl: string | undefined): Promise<AdminClient> {
  const url = serverUrl ?? `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  if (serverUrl) return remote(url, config);
  const storage = await openStorage(config.storage).catch((error: unknown) => {
    if (error instanceof StoreBusyError) return undefined;
    throw storeProblem(error, config) ?? error;
  });
  if (!storage)
    return remote(url, config, `the data directory ${config.dataDir} is in use by a running server`);
  const services = await commandServices(config, storage).catch(async (error: unknown) => {
    await storage.close().catch(() => undefined);
    throw storeProblem(error, config) ?? error;
  });
  return new LocalAdmin(services);
}

function remote(url: string, config: Config, why?: string): AdminClient {
  if (!config.masterKey) {
    throw new OpenUAError(
      'UNAVAILABLE',
      `${why ? `${why}; ` : ''}administering ${url} over HTTP needs OPENUA_MASTER_KEY. Set it (for this command and the server), or stop the server and run the command again.`,
    );
  }
  return new RemoteAdmin(url, config.masterKey);
}
