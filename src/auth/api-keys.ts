import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { invalid, notFound } from '../server/errors.ts';
import { compileCheck } from '../server/validation.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import { PRIVILEGES, type Privilege } from './privileges.ts';

export interface ApiKey {
  id: string;
  org: string;
  name: string;
  /**
   * SHA-256 of the secret. The secret is 256 random bits, so a slow password hash would add cost to every
   * request without making a stolen hash any harder to reverse.
   */
  secretHash: string;
  privileges: Privilege[];
  createdAt: Date;
  revokedAt: Date | null;
}

export const API_KEYS: EntityTable<ApiKey> = {
  name: 'api_keys',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    name: 'text',
    secretHash: 'text',
    privileges: 'text[]',
    createdAt: 'timestamp',
    revokedAt: 'timestamp',
  },
};

/** `POST /api/v1/orgs/{org}/keys` and `openua key create`. */
export const ApiKeyInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    privileges: Type.Array(Type.Unsafe<Privilege>({ type: 'string', enum: [...PRIVILEGES] }), {
      minItems: 1,
    }),
  },
  { additionalProperties: false },
);
const checkInput = compileCheck(ApiKeyInput);

/** `oua_<id>_<secret>`: the id finds the row without a scan, the secret proves possession. */
const KEY_PATTERN = /^oua_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const looksLikeApiKey = (token: string) => token.startsWith('oua_');

const CACHE_TTL_MS = 10_000;

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Public view of a key: never its hash. */
export const publicApiKey = ({ secretHash: _hidden, ...key }: ApiKey) => key;

export class ApiKeys {
  /** Keys recently read, so a request costs no storage round trip. Entries expire so that a revocation
   * made through another server sharing the store takes effect within CACHE_TTL_MS. */
  private readonly cache = new Map<string, { key: ApiKey; at: number }>();

  constructor(private readonly storage: Storage) {}

  async create(org: string, body: unknown): Promise<{ key: string; apiKey: ApiKey }> {
    const violations = checkInput(body);
    if (violations.length > 0) throw invalid(violations);
    const input = body as Static<typeof ApiKeyInput>;
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const apiKey: ApiKey = {
      id,
      org,
      name: input.name,
      secretHash: hash(secret),
      privileges: [...new Set(input.privileges)],
      createdAt: new Date(),
      revokedAt: null,
    };
    await this.storage.upsert(API_KEYS, apiKey);
    return { key: `oua_${id}_${secret}`, apiKey };
  }

  list(org: string): Promise<ApiKey[]> {
    return this.storage.find(API_KEYS, { org });
  }

  async revoke(org: string, id: string): Promise<ApiKey> {
    const [key] = await this.storage.find(API_KEYS, { org, id });
    if (!key)
      throw notFound(`API key ${JSON.stringify(id)} does not exist in organization ${JSON.stringify(org)}`);
    const revoked = { ...key, revokedAt: key.revokedAt ?? new Date() };
    await this.storage.upsert(API_KEYS, revoked);
    this.cache.delete(id);
    return revoked;
  }

  /** The key for this secret, or undefined when it is malformed, unknown, wrong or revoked. */
  async verify(token: string): Promise<ApiKey | undefined> {
    const match = KEY_PATTERN.exec(token);
    if (!match) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const cached = this.cache.get(id);
    let key = cached && Date.now() - cached.at < CACHE_TTL_MS ? cached.key : undefined;
    if (!key) {
      [key] = await this.storage.find(API_KEYS, { id });
      if (!key) return undefined;
      this.cache.set(id, { key, at: Date.now() });
    }
    const expected = Buffer.from(key.secretHash, 'hex');
    const actual = Buffer.from(hash(secret), 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    return key.revokedAt ? undefined : key;
  }
}
