import { hash, timingSafeEqual } from 'node:crypto';
import { forbidden, unauthenticated } from '../core/errors.ts';
import { DEFAULT_ORG } from '../orgs/organizations.ts';
import { type ApiKeys, looksLikeApiKey } from './api-keys.ts';
import { PRIVILEGES, type Privilege } from './privileges.ts';
import type { SearchTokens, TokenIdentity } from './search-tokens.ts';

/** Who is calling, and what they may do. Organization always comes from here, never from a body. */
export type Credential =
  | { kind: 'master'; id: 'master'; privileges: ReadonlySet<Privilege> }
  | { kind: 'apiKey'; id: string; org: string; privileges: ReadonlySet<Privilege> }
  | {
      kind: 'searchToken';
      id: string;
      org: string;
      privileges: ReadonlySet<Privilege>;
      identity: TokenIdentity;
    };

const ALL = new Set<Privilege>(PRIVILEGES);
/** A search token is handed to browsers: it may push events and nothing else. */
const SEARCH_TOKEN_PRIVILEGES = new Set<Privilege>(['analytics:write']);

// The one-shot hash: a Hash object per request (createHash) cost several times the digest itself.
export const sha256 = (value: string) => hash('sha256', value, 'buffer');

/**
 * The SHA-256 digests of what one connection sent last (its token, an API key's secret): a keep-alive client
 * sends the same credential with every request, and hashing it each time was the largest cost of
 * authentication. Kept per connection, it compares a token only with what the same connection sent before,
 * never with anyone else's secret, and the digests are still compared in constant time.
 */
export class DigestMemo {
  private readonly texts: string[] = [];
  private readonly digests: Buffer[] = [];

  digest(text: string): Buffer {
    const index = this.texts.indexOf(text);
    if (index >= 0) return this.digests[index] as Buffer;
    const digest = sha256(text);
    if (this.texts.length === 2) {
      this.texts.shift();
      this.digests.shift();
    }
    this.texts.push(text);
    this.digests.push(digest);
    return digest;
  }
}

export class Authenticator {
  private readonly masterDigest: Buffer | undefined;

  constructor(
    masterKey: string | undefined,
    private readonly apiKeys: ApiKeys,
    private readonly searchTokens: SearchTokens,
  ) {
    this.masterDigest = masterKey ? sha256(masterKey) : undefined;
  }

  /**
   * Resolves a bearer token to a credential; 401 when it is missing or matches nothing. A JWT-shaped token
   * is taken for a search token, so one that fails verification is INVALID_TOKEN, saying why.
   */
  async authenticate(token: string | undefined, memo?: DigestMemo): Promise<Credential> {
    if (!token) {
      throw unauthenticated(
        'No credential: send "Authorization: Bearer <API key, search token or master key>" (or, for beacons on the UA Write API and the batch route, access_token)',
      );
    }
    const digest = memo ? (text: string) => memo.digest(text) : sha256;
    if (this.masterDigest && timingSafeEqual(digest(token), this.masterDigest)) {
      return { kind: 'master', id: 'master', privileges: ALL };
    }
    if (looksLikeApiKey(token)) {
      const key = await this.apiKeys.verify(token, digest);
      if (!key) throw unauthenticated('The API key is unknown, revoked or malformed');
      return { kind: 'apiKey', id: key.id, org: key.org, privileges: new Set(key.privileges) };
    }
    if (token.split('.').length === 3) {
      const identity = await this.searchTokens.verify(token);
      return {
        kind: 'searchToken',
        id: `token:${identity.username ?? ''}`,
        org: identity.org,
        privileges: SEARCH_TOKEN_PRIVILEGES,
        identity,
      };
    }
    throw unauthenticated('The credential is not a known master key, API key or search token');
  }
}

/**
 * The organization a request acts on. The master key acts on the one it names (or `default`);
 * any other credential acts on its own, and naming another one is refused.
 */
export function resolveOrg(credential: Credential, requested: string | undefined): string {
  if (credential.kind === 'master') return requested || DEFAULT_ORG;
  if (requested && requested !== credential.org) {
    throw forbidden(
      `This credential belongs to organization ${JSON.stringify(credential.org)} and cannot act on ${JSON.stringify(requested)}`,
      [
        {
          field: 'org',
          rule: 'credentialOrganization',
          message: `must be the credential's organization ${JSON.stringify(credential.org)}`,
          received: requested,
        },
      ],
    );
  }
  return credential.org;
}

export function requirePrivilege(credential: Credential, privilege: Privilege): void {
  if (!credential.privileges.has(privilege)) {
    throw forbidden(`This credential lacks the "${privilege}" privilege`, [
      {
        field: 'credential',
        rule: 'privilege',
        limit: privilege,
        message: `needs the "${privilege}" privilege`,
        received: [...credential.privileges],
      },
    ]);
  }
}

/**
 * What only the master key may do: create organizations. An admin key administers its own organization, and
 * one it created would be out of its reach (another organization), so it may not create any.
 */
export function requireMaster(credential: Credential, action: string): void {
  if (credential.kind === 'master') return;
  throw forbidden(
    `Only the master key (OPENUA_MASTER_KEY) can ${action}; an admin key administers its own organization`,
    [
      {
        field: 'credential',
        rule: 'masterKey',
        message: `must be the master key to ${action}`,
        received: credential.kind,
      },
    ],
  );
}
