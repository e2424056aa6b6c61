import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { notFound } from '../core/errors.ts';
import { printable } from '../core/validation.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import { NegativeCache } from './negative-cache.ts';
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

const privilege = Type.Unsafe<Privilege>({ type: 'string', enum: [...PRIVILEGES] });

/** `POST /api/v1/orgs/{org}/keys` and `openua key create`. */
export const ApiKeyInput = Type.Object(
  {
    name: printable({ minLength: 1, maxLength: 128 }),
    privileges: Type.Array(privilege, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type ApiKeyInput = Static<typeof ApiKeyInput>;

/** `oua_<id>_<secret>`: the id finds the row without a scan, the secret proves possession. */
const KEY_PATTERN = /^oua_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const looksLikeApiKey = (token: string) => token.startsWith('oua_');

const CACHE_TTL_MS = 10_000;

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * What a secret is compared with when its key id is unknown: a hash no secret has (random, never stored). An
 * unknown id then takes the path, and the time, of a known id with a wrong secret.
 */
const NO_KEY_HASH = randomBytes(32);

/** Public view of a key: never its hash. */
export const publicApiKey = ({ secretHash: _hidden, ...key }: ApiKey): ApiKeyAnswer => key;

// Dates here, answered as ISO 8601 text.
const time = Type.Unsafe<Date>(Type.String({ format: 'date-time' }));

/** A key as the admin API answers it. */
export const ApiKeyAnswerSchema = Type.Object({
  id: Type.String({ description: 'The part of the key after `oua_` and before the secret' }),
  org: Type.String(),
  name: Type.String(),
  privileges: Type.Array(privilege),
  createdAt: time,
  revokedAt: Type.Union([time, Type.Null()], { description: 'null while the key is valid' }),
});
type ApiKeyAnswer = Static<typeof ApiKeyAnswerSchema>;

/** A new key: the only answer that holds its secret. */
export const NewApiKeyAnswerSchema = Type.Object({
  ...ApiKeyAnswerSchema.properties,
  key: Type.String({ description: 'The key (`oua_<id>_<secret>`), answered once: keep it' }),
});

export class ApiKeys {
  /** Keys recently read, so a request costs no storage round trip. Entries expire so that a revocation
   * made through another server sharing the store takes effect within CACHE_TTL_MS. */
  private readonly cache = new Map<string, { key: ApiKey; at: number }>();
  /** Ids recently not found, so that a made-up key costs the store one read, not one per request. */
  private readonly unknown = new NegativeCache(CACHE_TTL_MS, 10_000);

  constructor(private readonly storage: Storage) {}

  async create(org: string, input: ApiKeyInput): Promise<{ key: string; apiKey: ApiKey }> {
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
    this.unknown.delete(id);
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
    const key = await this.find(id);
    // Hashed and compared whether the id is known or not: the two cannot be told apart by time.
    const expected = key ? Buffer.from(key.secretHash, 'hex') : NO_KEY_HASH;
    const actual = createHash('sha256').update(secret).digest();
    const same = expected.length === actual.length && timingSafeEqual(expected, actual);
    return key && same && !key.revokedAt ? key : undefined;
  }

  /** The key with this id: from the caches when they know, else from the store. */
  private async find(id: string): Promise<ApiKey | undefined> {
    const cached = this.cache.get(id);
    if (cached && Date.now() - cached.at < CACHE_TTL_MS) return cached.key;
    if (this.unknown.has(id)) return undefined;
    const [key] = await this.storage.find(API_KEYS, { id });
    if (key) this.cache.set(id, { key, at: Date.now() });
    else this.unknown.add(id);
    return key;
  }
}
