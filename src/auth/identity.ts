import { forbidden, type Violation } from '../core/errors.ts';
import type { Credential } from './credential.ts';

export interface IdentityFields {
  username?: string;
  userDisplayName?: string;
  anonymous?: boolean;
  originLevel1?: string;
}

export interface Identity {
  username: string | null;
  userDisplayName: string | null;
  anonymous: boolean;
  originLevel1: string | null;
}

/**
 * Who the event is about, by the rules of the UA Write API (reference §2):
 * - username and userDisplayName may come from the body only with `analytics:impersonate`;
 * - otherwise they come from the search token, unless `anonymous: true` keeps the token's identity out;
 * - an API key (or the master key) with no username records `anonymous`; a token without a user leaves it blank;
 * - originLevel1 falls back to the token's searchHub.
 */
export function resolveIdentity(body: IdentityFields, credential: Credential): Identity {
  const impersonating = (['username', 'userDisplayName'] as const).filter((f) => body[f] !== undefined);
  if (impersonating.length > 0 && !credential.privileges.has('analytics:impersonate')) {
    const violations: Violation[] = impersonating.map((field) => ({
      field,
      rule: 'privilege',
      limit: 'analytics:impersonate',
      message: `setting ${field} needs the "analytics:impersonate" privilege`,
      received: body[field],
    }));
    throw forbidden(
      `Setting ${impersonating.join(' and ')} needs the "analytics:impersonate" privilege`,
      violations,
    );
  }
  const anonymous = body.anonymous === true;
  const token = credential.kind === 'searchToken' && !anonymous ? credential.identity : undefined;
  const hub = credential.kind === 'searchToken' ? credential.identity.searchHub : null;
  let username: string | null;
  if (body.username !== undefined) username = body.username;
  else if (token) username = token.username ?? '';
  else username = 'anonymous';
  return {
    username,
    userDisplayName: body.userDisplayName ?? token?.userDisplayName ?? null,
    anonymous,
    originLevel1: body.originLevel1 ?? hub,
  };
}
