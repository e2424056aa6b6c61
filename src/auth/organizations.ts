import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { checkKpiDefaults, type KpiParams } from '../query/kpis.ts';
import { conflict, invalid, notFound } from '../server/errors.ts';
import { compileCheck } from '../server/validation.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';

export interface Organization {
  id: string;
  name: string;
  /**
   * HMAC secret that signs this organization's search tokens. It must stay usable for signing,
   * so unlike API keys it cannot be stored as a hash; it never leaves the server.
   */
  tokenSecret: string;
  createdAt: Date;
  /**
   * What Channel Analytics does with a KPI event whose name has no active definition: refuse it (the
   * default, also when null) or accept it marked `unknownKpiEvent`.
   */
  unknownKpiEvents: UnknownKpiEvents | null;
  // The ingest settings below are null until an admin sets them: ORG_DEFAULTS applies.
  /** How long an idempotency key is remembered, in days, from the first event that carried it. */
  dedupWindowDays: number | null;
  /** How long rejected events are kept, in days. */
  rejectionRetentionDays: number | null;
  /** Events whose (derived) time is further back than this, in days, are rejected. */
  maxEventAgeDays: number | null;
  /** Events whose (derived) time is further ahead than this, in minutes, are rejected. */
  maxEventFutureMinutes: number | null;
  /**
   * The organization's own definitions where the vendors disagree: KPI parameters by name (say
   * `{"shortAbandonSeconds": 30, "denominator": "answeredAndAbandoned"}`), used wherever a query or a rule
   * does not set them. Null: the catalogue's defaults.
   */
  kpiDefaults: KpiParams | null;
}

/** What each ingest setting is when an organization has not set it. */
export const ORG_DEFAULTS = {
  dedupWindowDays: 7,
  rejectionRetentionDays: 30,
  maxEventAgeDays: 30,
  maxEventFutureMinutes: 10,
} as const;

export type IngestSettings = { [K in keyof typeof ORG_DEFAULTS]: number };

/** How long an idempotency key is remembered, in ms. */
export const dedupWindowMs = (settings: IngestSettings) => settings.dedupWindowDays * 86_400_000;

/** The organization's ingest settings, defaults filled in. */
export const ingestSettings = (org: Organization): IngestSettings => ({
  dedupWindowDays: org.dedupWindowDays ?? ORG_DEFAULTS.dedupWindowDays,
  rejectionRetentionDays: org.rejectionRetentionDays ?? ORG_DEFAULTS.rejectionRetentionDays,
  maxEventAgeDays: org.maxEventAgeDays ?? ORG_DEFAULTS.maxEventAgeDays,
  maxEventFutureMinutes: org.maxEventFutureMinutes ?? ORG_DEFAULTS.maxEventFutureMinutes,
});

const UNKNOWN_KPI_EVENTS = ['refuse', 'flag'] as const;
export type UnknownKpiEvents = (typeof UNKNOWN_KPI_EVENTS)[number];

export const ORGANIZATIONS: EntityTable<Organization> = {
  name: 'organizations',
  key: ['id'],
  columns: {
    id: 'text',
    name: 'text',
    tokenSecret: 'text',
    createdAt: 'timestamp',
    unknownKpiEvents: 'text',
    dedupWindowDays: 'integer',
    rejectionRetentionDays: 'integer',
    maxEventAgeDays: 'integer',
    maxEventFutureMinutes: 'integer',
    kpiDefaults: 'json',
  },
};

export const DEFAULT_ORG = 'default';
export const ORG_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** `POST /api/v1/orgs` and `openua org create`. */
export const OrganizationInput = Type.Object(
  {
    id: Type.String({ pattern: ORG_ID_PATTERN.source }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
const checkInput = compileCheck(OrganizationInput);

/** `PATCH /api/v1/orgs/{org}` and `openua org update`: the settings an admin may change. */
const OrganizationSettings = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    unknownKpiEvents: Type.Optional(
      Type.Unsafe<UnknownKpiEvents>({ type: 'string', enum: [...UNKNOWN_KPI_EVENTS] }),
    ),
    dedupWindowDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
    rejectionRetentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    maxEventAgeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    maxEventFutureMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 60 })),
    // Checked against the KPI catalogue (checkKpiDefaults).
    kpiDefaults: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
const checkSettingsShape = compileCheck(OrganizationSettings);
const checkSettings = (body: unknown) => {
  const violations = checkSettingsShape(body);
  if (violations.length > 0 || body === null || typeof body !== 'object' || !('kpiDefaults' in body)) {
    return violations;
  }
  return checkKpiDefaults(body.kpiDefaults, 'kpiDefaults');
};

/** Public view: the token secret is never answered. */
export const publicOrganization = (org: Organization) => ({
  id: org.id,
  name: org.name,
  createdAt: org.createdAt,
  unknownKpiEvents: org.unknownKpiEvents ?? 'refuse',
  ...ingestSettings(org),
  kpiDefaults: org.kpiDefaults ?? {},
});

export class Organizations {
  private readonly cache = new Map<string, Organization>();
  /** What other parts do for each new organization (Channel Analytics seeds its KPI definitions). */
  private readonly created: ((org: Organization) => Promise<void>)[] = [];

  constructor(private readonly storage: Storage) {}

  async get(id: string): Promise<Organization | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    // Another server in front of the same store may have created it.
    const [row] = await this.storage.find(ORGANIZATIONS, { id });
    if (row) this.cache.set(id, row);
    return row;
  }

  async require(id: string): Promise<Organization> {
    const org = await this.get(id);
    if (!org) throw notFound(`Organization ${JSON.stringify(id)} does not exist`);
    return org;
  }

  async list(): Promise<Organization[]> {
    return this.storage.find(ORGANIZATIONS, {});
  }

  async create(body: unknown): Promise<Organization> {
    const violations = checkInput(body);
    if (violations.length > 0) throw invalid(violations);
    const input = body as Static<typeof OrganizationInput>;
    if (await this.get(input.id)) throw conflict(`Organization ${JSON.stringify(input.id)} already exists`);
    const org: Organization = {
      id: input.id,
      name: input.name ?? input.id,
      tokenSecret: randomBytes(32).toString('base64url'),
      createdAt: new Date(),
      unknownKpiEvents: null,
      dedupWindowDays: null,
      rejectionRetentionDays: null,
      maxEventAgeDays: null,
      maxEventFutureMinutes: null,
      kpiDefaults: null,
    };
    await this.storage.upsert(ORGANIZATIONS, org);
    this.cache.set(org.id, org);
    for (const listener of this.created) await listener(org);
    return org;
  }

  onCreate(listener: (org: Organization) => Promise<void>): void {
    this.created.push(listener);
  }

  async update(id: string, body: unknown): Promise<Organization> {
    const violations = checkSettings(body);
    if (violations.length > 0) throw invalid(violations);
    const settings = body as Omit<Static<typeof OrganizationSettings>, 'kpiDefaults'> & {
      kpiDefaults?: KpiParams | null;
    };
    const org = { ...(await this.require(id)), ...settings };
    await this.storage.upsert(ORGANIZATIONS, org);
    this.cache.set(id, org);
    return org;
  }

  /** Creates the `default` organization on first start; answers whether it had to. */
  async ensureDefault(): Promise<boolean> {
    if (await this.get(DEFAULT_ORG)) return false;
    await this.create({ id: DEFAULT_ORG, name: 'Default organization' });
    return true;
  }
}
