import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
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

/**
 * How long a key read from the store is trusted by default (`OPENUA_CACHE_TTL_MS`): a key revoked through
 * another server sharing the store is refused here within this time.
 */
export const KEY_CACHE_TTL_MS = 10_000;

const hashOf = (secret: string) => hash('sha256', secret, 'hex');

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
  /**
   * Keys recently read, so a request costs no storage round trip. Entries expire after `ttlMs`, and the next
   * request reads the key again: that is how a revocation made through another server sharing the store
   * reaches this one, within `ttlMs`.
   */
  private readonly cache = new Map<string, { key: ApiKey; at: number }>();
  /** Ids recently not found, so that a made-up key costs the store one read, not one per request. */
  private readonly unknown: NegativeCache;
  /** Reads of the store under way, by id: the requests that find an entry expired together share one. */
  private readonly reading = new Map<string, Promise<ApiKey | undefined>>();
  private readonly ttlMs: number;

  constructor(
    private readonly storage: Storage,
    options: { cacheTtlMs?: number } = {},
  ) {
    this.ttlMs = options.cacheTtlMs ?? KEY_CACHE_TTL_MS;
    this.unknown = new NegativeCache(this.ttlMs, 10_000);
  }

  async create(org: string, input: ApiKeyInput): Promise<{ key: string; apiKey: ApiKey }> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const apiKey: ApiKey = {
      id,
      org,
      name: input.name,
      secretHash: hashOf(secret),
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
    this.reading.delete(id);
    this.cache.set(id, { key: revoked, at: Date.now() });
    return revoked;
  }

  /**
   * The key for this secret, or undefined when it is malformed, unknown, wrong or revoked. `digest` is SHA-256,
   * possibly remembered for the connection (credential.ts, DigestMemo).
   */
  async verify(
    token: string,
    digest: (text: string) => Buffer = (text) => hash('sha256', text, 'buffer'),
  ): Promise<ApiKey | undefined> {
    const match = KEY_PATTERN.exec(token);
    if (!match) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const key = await this.find(id);
    // Hashed and compared whether the id is known or not: the two cannot be told apart by time.
    const expected = key ? Buffer.from(key.secretHash, 'hex') : NO_KEY_HASH;
    const actual = digest(secret);
    const same = expected.length === actual.length && timingSafeEqual(expected, actual);
    return key && same && !key.revokedAt ? key : undefined;
  }

  /** The key with this id: from the caches when they know, else from the store. */
  private find(id: string): Promise<ApiKey | undefined> {
    const cached = this.cache.get(id);
    if (cached && Date.now() - cached.at < this.ttlMs) return Promise.resolve(cached.key);
    if (this.unknown.has(id)) return Promise.resolve(undefined);
    const known = this.reading.get(id);
    if (known) return known;
    // The time is taken before the read, so an entry is never trusted longer than `ttlMs` after it was read.
    const at = Date.now();
    const pending: Promise<ApiKey | undefined> = this.storage.find(API_KEYS, { id }).then(
      ([key]) => {
        // A revocation made here while the read was under way wins over what the read found.
        if (this.reading.get(id) !== pending) return this.cache.get(id)?.key ?? key;
        this.reading.delete(id);
        if (key) this.cache.set(id, { key, at });
        else {
          this.cache.delete(id);
          this.unknown.add(id, at);
        }
        return key;
      },
      (error: unknown) => {
        if (this.reading.get(id) === pending) this.reading.delete(id);
        throw error;
      },
    );
    this.reading.set(id, pending);
    return pending;
  }
}
