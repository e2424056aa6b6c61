import { type Static, Type } from '@sinclair/typebox';
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { invalid, unauthenticated } from '../server/errors.ts';
import { compileCheck } from '../server/validation.ts';
import type { Organizations } from './organizations.ts';

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

/** `POST /api/v1/orgs/{org}/tokens` and `openua token sign`. */
export const SignInput = Type.Object(
  {
    userId: Type.String({ minLength: 1, maxLength: 128 }),
    userDisplayName: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    searchHub: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    userGroups: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 100 })),
    pipeline: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Lifetime in seconds (default one day, at most one year). */
    expiresIn: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIFETIME })),
  },
  { additionalProperties: false },
);
export type SignInput = Static<typeof SignInput>;
const checkInput = compileCheck(SignInput);

export class SearchTokens {
  constructor(private readonly organizations: Organizations) {}

  async sign(orgId: string, body: unknown): Promise<{ token: string; expiresAt: Date }> {
    const violations = checkInput(body);
    if (violations.length > 0) throw invalid(violations);
    const input = body as SignInput;
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
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(Buffer.from(org.tokenSecret));
    return { token, expiresAt };
  }

  /** The identity in a valid token; 401 with the reason otherwise. */
  async verify(token: string): Promise<TokenIdentity> {
    let orgId: unknown;
    try {
      orgId = decodeJwt(token).organization;
    } catch {
      throw unauthenticated('The search token is not a well-formed JWT');
    }
    if (typeof orgId !== 'string') throw unauthenticated('The search token has no "organization" claim');
    const org = await this.organizations.get(orgId);
    if (!org)
      throw unauthenticated(`The search token names an unknown organization ${JSON.stringify(orgId)}`);
    try {
      const { payload } = await jwtVerify(token, Buffer.from(org.tokenSecret), {
        algorithms: ['HS256'],
        requiredClaims: ['exp'],
      });
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
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated('The search token has expired');
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw unauthenticated("The search token's signature does not match its organization");
      }
      throw unauthenticated(`The search token is invalid: ${(error as Error).message}`);
    }
  }
}
