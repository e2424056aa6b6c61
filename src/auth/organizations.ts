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
}

export const ORGANIZATIONS: EntityTable<Organization> = {
  name: 'organizations',
  key: ['id'],
  columns: { id: 'text', name: 'text', tokenSecret: 'text', createdAt: 'timestamp' },
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

/** Public view: the token secret is never answered. */
export const publicOrganization = ({ id, name, createdAt }: Organization) => ({ id, name, createdAt });

export class Organizations {
  private readonly cache = new Map<string, Organization>();

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
    };
    await this.storage.upsert(ORGANIZATIONS, org);
    this.cache.set(org.id, org);
    return org;
  }

  /** Creates the `default` organization on first start; answers whether it had to. */
  async ensureDefault(): Promise<boolean> {
    if (await this.get(DEFAULT_ORG)) return false;
    await this.create({ id: DEFAULT_ORG, name: 'Default organization' });
    return true;
  }
}
