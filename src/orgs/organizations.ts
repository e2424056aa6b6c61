import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { conflict, invalid, notFound } from '../core/errors.ts';
import { compileCheck, printable } from '../core/validation.ts';
import { checkKpiDefaults, type KpiParams } from '../kpi/catalogue.ts';
import { ingestSettings } from '../model/ingest-settings.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import { checkAllowedOrigins } from './allowed-origins.ts';

export {
  dedupWindowMs,
  type IngestSettings,
  ingestSettings,
  ORG_DEFAULTS,
} from '../model/ingest-settings.ts';

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
  /**
   * Requests per credential (see RateLimits); null, or a field left out: RATE_LIMIT_DEFAULTS. Counted by each
   * server process on its own.
   */
  rateLimits: Partial<RateLimits> | null;
  /**
   * The origins (`https://dash.example.com`) whose pages may read this organization's answers on every route but
   * the event routes (which answer any origin): CORS. Null: none.
   */
  allowedOrigins: string[] | null;
  // Retention (src/privacy/retention.ts), in days: null keeps forever.
  /** Events of every category but `kpi`, by derived time. */
  eventRetentionDays: number | null;
  /** KPI events (category `kpi`), by derived time. */
  kpiEventRetentionDays: number | null;
  /** Channel Analytics records (conversations, sessions, participants), by the time they last changed. */
  recordRetentionDays: number | null;
}

/**
 * How many requests one credential (an API key, a search token's user, the master key) may make within its
 * organization, counted in fixed windows of `burst` seconds: `writePerSecond × burst` requests to the event
 * routes, and `readPerSecond × burst` to the read routes (query, events, OData reads), in each window;
 * administration is not limited. A credential may spend a whole window's allowance at once: `burst` is how
 * many seconds of its rate one burst may take.
 */
export interface RateLimits {
  writePerSecond: number;
  readPerSecond: number;
  burst: number;
}

/**
 * Far above the requests one server takes (npm run bench:ingest), so that by default a whole site, whose visitors
 * all send through one browser key, is never refused: an organization that wants a ceiling sets its own.
 */
export const RATE_LIMIT_DEFAULTS: RateLimits = { writePerSecond: 50_000, readPerSecond: 200, burst: 10 };

/** The organization's rate limits, defaults filled in. */
export const rateLimitSettings = (org: Organization): RateLimits => ({
  ...RATE_LIMIT_DEFAULTS,
  ...org.rateLimits,
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
    rateLimits: 'json',
    allowedOrigins: 'text[]',
    eventRetentionDays: 'integer',
    kpiEventRetentionDays: 'integer',
    recordRetentionDays: 'integer',
  },
};

export const DEFAULT_ORG = 'default';
export const ORG_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** `POST /api/v1/orgs` and `openua org create`. */
export const OrganizationInput = Type.Object(
  {
    id: Type.String({ pattern: ORG_ID_PATTERN.source }),
    name: Type.Optional(printable({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type OrganizationInput = Static<typeof OrganizationInput>;

/** A retention in days; null (PATCH's way to unset it) keeps forever. */
const retentionDays = (what: string) =>
  Type.Unsafe<number | null>({
    type: ['integer', 'null'],
    minimum: 1,
    maximum: 36_500,
    description: `${what}: kept this many days (docs/operations/retention.md); null: forever`,
  });

/**
 * `PATCH /api/v1/orgs/{org}` and `openua org update`: the settings an admin may change. `update` checks the
 * values this shape leaves open (kpiDefaults, rateLimits, allowedOrigins).
 */
export const OrganizationSettings = Type.Object(
  {
    name: Type.Optional(printable({ minLength: 1, maxLength: 128 })),
    unknownKpiEvents: Type.Optional(
      Type.Unsafe<UnknownKpiEvents>({ type: 'string', enum: [...UNKNOWN_KPI_EVENTS] }),
    ),
    dedupWindowDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
    rejectionRetentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    maxEventAgeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    maxEventFutureMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 60 })),
    // Checked against the KPI catalogue (checkKpiDefaults).
    kpiDefaults: Type.Optional(Type.Unknown()),
    // RateLimitsInput, or null (checkRateLimits).
    rateLimits: Type.Optional(Type.Unknown()),
    // A list of exact origins, or null (checkAllowedOrigins).
    allowedOrigins: Type.Optional(Type.Unknown()),
    eventRetentionDays: Type.Optional(retentionDays('Events but KPI events')),
    kpiEventRetentionDays: Type.Optional(retentionDays('KPI events')),
    recordRetentionDays: Type.Optional(retentionDays('Conversation, session and participant records')),
  },
  { additionalProperties: false },
);
export type OrganizationSettings = Static<typeof OrganizationSettings>;

/** `rateLimits`: the object replaces the one set before; a field left out, or null for the whole, is the default. */
const RateLimitsInput = Type.Object(
  {
    writePerSecond: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    readPerSecond: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  { additionalProperties: false },
);
const checkRateLimitsShape = compileCheck(RateLimitsInput);
const checkRateLimits = (value: unknown) =>
  value === null
    ? []
    : checkRateLimitsShape(value).map((v) =>
        v.field
          ? { ...v, field: `rateLimits.${v.field}` }
          : {
              ...v,
              field: 'rateLimits',
              message: 'must be an object {writePerSecond, readPerSecond, burst}, or null',
            },
      );

/** What is wrong with the settings' open values, checked against the KPI catalogue and their own rules. */
const checkSettings = (settings: OrganizationSettings) => [
  ...('kpiDefaults' in settings ? checkKpiDefaults(settings.kpiDefaults, 'kpiDefaults') : []),
  ...('rateLimits' in settings ? checkRateLimits(settings.rateLimits) : []),
  ...('allowedOrigins' in settings ? checkAllowedOrigins(settings.allowedOrigins, 'allowedOrigins') : []),
];

const positive = (description?: string) => Type.Integer({ minimum: 1, ...(description && { description }) });

/** An organization as the admin API answers it: every setting, defaults filled in. */
export const OrganizationAnswerSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  // A Date here, answered as ISO 8601 text.
  createdAt: Type.Unsafe<Date>(Type.String({ format: 'date-time' })),
  unknownKpiEvents: Type.Unsafe<UnknownKpiEvents>({
    type: 'string',
    enum: [...UNKNOWN_KPI_EVENTS],
    description: 'What Channel Analytics does with a KPI event whose name has no active definition',
  }),
  dedupWindowDays: positive('How long an idempotency key is remembered, in days'),
  rejectionRetentionDays: positive('How long rejected events are kept, in days'),
  maxEventAgeDays: positive('Events further back than this, in days, are rejected'),
  maxEventFutureMinutes: Type.Integer({
    minimum: 0,
    description: 'Events further ahead than this, in minutes, are rejected',
  }),
  kpiDefaults: Type.Record(Type.String(), Type.Unknown(), {
    description: 'KPI parameters used where a query or a rule does not set them',
  }),
  rateLimits: Type.Object(
    { writePerSecond: positive(), readPerSecond: positive(), burst: positive() },
    { description: 'Requests per credential, counted in windows of `burst` seconds' },
  ),
  allowedOrigins: Type.Array(Type.String(), {
    description: 'The origins whose pages may read the answers (CORS)',
  }),
  eventRetentionDays: retentionDays('Events but KPI events'),
  kpiEventRetentionDays: retentionDays('KPI events'),
  recordRetentionDays: retentionDays('Conversation, session and participant records'),
});
type OrganizationAnswer = Static<typeof OrganizationAnswerSchema>;

/** Public view: the token secret is never answered. */
export const publicOrganization = (org: Organization): OrganizationAnswer => ({
  id: org.id,
  name: org.name,
  createdAt: org.createdAt,
  unknownKpiEvents: org.unknownKpiEvents ?? 'refuse',
  ...ingestSettings(org),
  kpiDefaults: org.kpiDefaults ?? {},
  rateLimits: rateLimitSettings(org),
  allowedOrigins: org.allowedOrigins ?? [],
  eventRetentionDays: org.eventRetentionDays ?? null,
  kpiEventRetentionDays: org.kpiEventRetentionDays ?? null,
  recordRetentionDays: org.recordRetentionDays ?? null,
});

/**
 * How long the server's copy of the organizations is trusted before it is read again, by default
 * (`OPENUA_CACHE_TTL_MS`): an organization created, or a setting changed, through another server sharing the
 * store is seen here within this time.
 */
export const ORGANIZATIONS_REFRESH_MS = 10_000;

export class Organizations {
  /**
   * Every organization, read whole from the store at most every `refreshMs`. An id is looked up
   * here alone, whether it exists or not: a credential naming an organization that does not exist costs no
   * store read, and takes the time one naming an organization that does takes, so none can be told apart.
   */
  private cache = new Map<string, Organization>();
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | undefined;
  /** Organizations created or changed here while a read of the store is under way, kept over what it reads. */
  private writtenDuringRead: Map<string, Organization> | undefined;
  /** Every organization's allowedOrigins together, for CORS preflights (which carry no credential). */
  private origins: ReadonlySet<string> | undefined;
  /** What other parts do for each new organization (Channel Analytics seeds its KPI definitions). */
  private readonly created: ((org: Organization) => Promise<void>)[] = [];

  private readonly refreshMs: number;

  constructor(
    private readonly storage: Storage,
    options: { refreshMs?: number } = {},
  ) {
    this.refreshMs = options.refreshMs ?? ORGANIZATIONS_REFRESH_MS;
  }

  async get(id: string): Promise<Organization | undefined> {
    if (Date.now() - this.readAt >= this.refreshMs) await this.refresh();
    return this.cache.get(id);
  }

  /** Reads every organization from the store; concurrent callers share one read. */
  private refresh(): Promise<void> {
    this.reading ??= (async () => {
      this.writtenDuringRead = new Map();
      // Taken before the read, so the copy is never trusted longer than `refreshMs` after the store answered.
      const at = Date.now();
      try {
        const rows = await this.storage.find(ORGANIZATIONS, {});
        const fresh = new Map(rows.map((org) => [org.id, org]));
        for (const [id, org] of this.writtenDuringRead) fresh.set(id, org);
        this.cache = fresh;
        this.origins = undefined;
        this.readAt = at;
      } finally {
        this.writtenDuringRead = undefined;
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private remember(org: Organization): void {
    this.cache.set(org.id, org);
    this.writtenDuringRead?.set(org.id, org);
    this.origins = undefined;
  }

  /** The origins some organization allows (CORS), as of the last read of the organizations. */
  async allowedOriginsAnywhere(): Promise<ReadonlySet<string>> {
    if (Date.now() - this.readAt >= this.refreshMs) await this.refresh();
    this.origins ??= new Set([...this.cache.values()].flatMap((org) => org.allowedOrigins ?? []));
    return this.origins;
  }

  async require(id: string): Promise<Organization> {
    const org = await this.get(id);
    if (!org) throw notFound(`Organization ${JSON.stringify(id)} does not exist`);
    return org;
  }

  async list(): Promise<Organization[]> {
    return this.storage.find(ORGANIZATIONS, {});
  }

  async create(input: OrganizationInput): Promise<Organization> {
    // From the store itself: another server sharing it may have made this one since the last refresh.
    const [existing] = await this.storage.find(ORGANIZATIONS, { id: input.id });
    if (existing) throw conflict(`Organization ${JSON.stringify(input.id)} already exists`);
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
      rateLimits: null,
      allowedOrigins: null,
      eventRetentionDays: null,
      kpiEventRetentionDays: null,
      recordRetentionDays: null,
    };
    await this.storage.upsert(ORGANIZATIONS, org);
    this.remember(org);
    for (const listener of this.created) await listener(org);
    return org;
  }

  onCreate(listener: (org: Organization) => Promise<void>): void {
    this.created.push(listener);
  }

  async update(id: string, input: OrganizationSettings): Promise<Organization> {
    const violations = checkSettings(input);
    if (violations.length > 0) throw invalid(violations);
    const settings = input as Omit<OrganizationSettings, 'kpiDefaults' | 'rateLimits' | 'allowedOrigins'> & {
      kpiDefaults?: KpiParams | null;
      rateLimits?: Partial<RateLimits> | null;
      allowedOrigins?: string[] | null;
    };
    // From the store, not the copy: a setting another server sharing the store changed since the last refresh
    // is kept, not written back over with the value this server last read.
    const [stored] = await this.storage.find(ORGANIZATIONS, { id });
    if (!stored) throw notFound(`Organization ${JSON.stringify(id)} does not exist`);
    const org = { ...stored, ...settings };
    await this.storage.upsert(ORGANIZATIONS, org);
    this.remember(org);
    return org;
  }

  /** Creates the `default` organization on first start; answers whether it had to. */
  async ensureDefault(): Promise<boolean> {
    if (await this.get(DEFAULT_ORG)) return false;
    await this.create({ id: DEFAULT_ORG, name: 'Default organization' });
    return true;
  }
}
