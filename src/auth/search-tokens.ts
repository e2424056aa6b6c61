import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import {
  decodeJwt,
  decodeProtectedHeader,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { Rule } from '../core/errors.ts';
import { echo, invalidToken } from '../core/errors.ts';
import { printable } from '../core/validation.ts';
import type { Organizations } from '../orgs/organizations.ts';

/**
 * Search tokens: JWTs signed (HS256) with the organization's own secret, carrying the claims Coveo's
 * search tokens carry, so a page that already mints Coveo-shaped tokens needs no change.
 */
export interface SearchTokenClaims {
  organization: string;
  userIds: { name: string; provider?: string; type?: string }[];
  userDisplayName?: string;
  searchHub?: string;
  userGroups?: string[];
  pipeline?: string;
  exp: number;
}

/** The identity a verified token vouches for. */
export interface TokenIdentity {
  org: string;
  username: string | null;
  userDisplayName: string | null;
  searchHub: string | null;
  userGroups: string[];
  expiresAt: Date;
}

const MAX_LIFETIME = 365 * 24 * 3600;
/** Verifies tokens that name an unknown organization: random, never handed out, so nothing verifies with it. */
const NO_ORGANIZATION_SECRET = randomBytes(32);
const ALGORITHM = 'HS256';

/** `POST /api/v1/orgs/{org}/tokens` and `openua token sign`. */
export const SignInput = Type.Object(
  {
    userId: printable({ minLength: 1, maxLength: 128 }),
    userDisplayName: Type.Optional(printable({ minLength: 1, maxLength: 128 })),
    searchHub: Type.Optional(printable({ minLength: 1, maxLength: 128 })),
    userGroups: Type.Optional(Type.Array(printable({ minLength: 1, maxLength: 256 }), { maxItems: 100 })),
    pipeline: Type.Optional(printable({ minLength: 1, maxLength: 128 })),
    /** Lifetime in seconds (default one day, at most one year). */
    expiresIn: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIFETIME })),
  },
  { additionalProperties: false },
);
export type SignInput = Static<typeof SignInput>;

/** What `sign` answers. */
export const SignedTokenSchema = Type.Object({
  token: Type.String({ description: 'The search token: a JWT signed with HS256' }),
  // A Date here, answered as ISO 8601 text.
  expiresAt: Type.Unsafe<Date>(Type.String({ format: 'date-time' })),
});

export class SearchTokens {
  constructor(private readonly organizations: Organizations) {}

  async sign(orgId: string, input: SignInput): Promise<Static<typeof SignedTokenSchema>> {
    const lifetime = input.expiresIn ?? 24 * 3600;
    const org = await this.organizations.require(orgId);
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + lifetime) * 1000);
    const claims: Omit<SearchTokenClaims, 'exp'> = {
      organization: org.id,
      userIds: [{ name: input.userId, provider: 'Email Security Provider', type: 'User' }],
      ...(input.userDisplayName !== undefined && { userDisplayName: input.userDisplayName }),
      ...(input.searchHub !== undefined && { searchHub: input.searchHub }),
      ...(input.userGroups !== undefined && { userGroups: input.userGroups }),
      ...(input.pipeline !== undefined && { pipeline: input.pipeline }),
    };
    const token = await new SignJWT({ ...claims, v8: true })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(Buffer.from(org.tokenSecret));
    return { token, expiresAt };
  }

  /**
   * The identity in a valid token. Otherwise INVALID_TOKEN, naming the credential and saying what is wrong
   * with it; the token itself is never echoed, since error bodies end up in logs.
   */
  async verify(token: string): Promise<TokenIdentity> {
    let orgId: unknown;
    try {
      orgId = decodeJwt(token).organization;
    } catch {
      throw rejected('format', 'is not a well-formed JWT', 'The search token is not a well-formed JWT');
    }
    if (typeof orgId !== 'string') {
      throw rejected(
        'organization',
        'has no "organization" claim naming its organization',
        'The search token has no "organization" claim',
        orgId === undefined ? undefined : echo(orgId),
      );
    }
    // A token naming no known organization is checked against a secret no token has, so it takes the path, the
    // time and the answer of a bad signature: without a credential, nobody can tell which organizations exist.
    const org = await this.organizations.get(orgId);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, org ? Buffer.from(org.tokenSecret) : NO_ORGANIZATION_SECRET, {
        algorithms: [ALGORITHM],
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (!(error instanceof joseErrors.JOSEError)) throw error;
      throw joseRejection(error, token);
    }
    if (!org) throw notSigned();
    const claims = payload as unknown as Partial<SearchTokenClaims>;
    const users = Array.isArray(claims.userIds) ? claims.userIds : [];
    const user = users.find((u) => u?.type === 'User') ?? users[0];
    return {
      org: org.id,
      username: typeof user?.name === 'string' ? user.name : null,
      userDisplayName: typeof claims.userDisplayName === 'string' ? claims.userDisplayName : null,
      searchHub: typeof claims.searchHub === 'string' ? claims.searchHub : null,
      userGroups: Array.isArray(claims.userGroups)
        ? claims.userGroups.filter((g) => typeof g === 'string')
        : [],
      expiresAt: new Date((claims.exp ?? 0) * 1000),
    };
  }
}

/** The error for a token that fails `rule`, as a violation of the request's credential. */
function rejected(rule: Rule, problem: string, message: string, received?: unknown, limit?: unknown) {
  return invalidToken(message, {
    field: 'credential',
    rule,
    message: `the search token ${problem}`,
    ...(received !== undefined && { received }),
    ...(limit !== undefined && { limit }),
  });
}

/** Signed with a secret other than its organization's, or naming an organization there is not: one answer. */
const notSigned = () =>
  rejected(
    'signature',
    'is not signed by a known organization',
    'The search token is not signed by a known organization',
  );

/** What jose found wrong, in OpenUA's terms. */
function joseRejection(error: InstanceType<typeof joseErrors.JOSEError>, token: string) {
  if (error instanceof joseErrors.JWTExpired) {
    const exp = error.payload.exp;
    return rejected(
      'expired',
      'has expired',
      'The search token has expired',
      typeof exp === 'number' ? new Date(exp * 1000).toISOString() : undefined,
      // The server's clock, so that a client can tell an expired token from a skewed clock.
      new Date().toISOString(),
    );
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return notSigned();
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return rejected(
      'algorithm',
      `must be signed with ${ALGORITHM}`,
      `The search token is not signed with ${ALGORITHM}`,
      echo(decodeProtectedHeader(token).alg),
      ALGORITHM,
    );
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return rejected(
      'claims',
      `has an unusable "${error.claim}" claim: ${error.message}`,
      `The search token is invalid: ${error.message}`,
      error.payload[error.claim],
    );
  }
  return rejected('format', `is invalid: ${error.message}`, `The search token is invalid: ${error.message}`);
}
