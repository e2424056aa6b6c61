/** What a credential may do. Documented in the README ("Credentials and privileges"). */
export const PRIVILEGES = [
  'analytics:write',
  'analytics:impersonate',
  'analytics:read',
  'admin',
  // Server-wide (GET /metrics), not of one organization: only the master key grants it.
  'metrics',
] as const;

export type Privilege = (typeof PRIVILEGES)[number];

export const isPrivilege = (value: unknown): value is Privilege =>
  typeof value === 'string' && (PRIVILEGES as readonly string[]).includes(value);
