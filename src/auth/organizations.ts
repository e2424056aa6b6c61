import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
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
}

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
  },
  { additionalProperties: false },
);
const checkSettings = compileCheck(OrganizationSettings);

/** Public view: the token secret is never answered. */
export const publicOrganization = ({ id, name, createdAt, unknownKpiEvents }: Organization) => ({
  id,
  name,
  createdAt,
  unknownKpiEvents: unknownKpiEvents ?? 'refuse',
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
    const settings = body as Static<typeof OrganizationSettings>;
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
