import { createHmac, hkdfSync } from 'node:crypto';
import { userInfo } from 'node:os';
import { invalid, notFound } from '../core/errors.ts';
import { newEventId } from '../model/event-id.ts';
import { ORGANIZATIONS } from '../orgs/organizations.ts';
import type { EntityTable, RecordFilter, Storage } from '../storage/storage.ts';

/**
 * The audit log: who did which privacy or admin action, when, to what, and how many rows. Append-only: this
 * module only ever adds rows (nothing in the code updates or deletes one), retention never sweeps it, and an
 * erasure leaves it alone, so it outlives the data it describes. A person an action was about is kept as the
 * organization's keyed hash of the identifier, never the identifier: the log proves an erasure without undoing it.
 */

/** What was done. Dotted: the thing, then the act. */
export type AuditAction =
  | 'org.create'
  | 'org.update'
  | 'key.create'
  | 'key.revoke'
  | 'erasure.request'
  | 'erasure.complete'
  | 'person-export'
  | 'export'
  | 'backup'
  | 'restore'
  | 'retention.sweep';

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  'org.create',
  'org.update',
  'key.create',
  'key.revoke',
  'erasure.request',
  'erasure.complete',
  'person-export',
  'export',
  'backup',
  'restore',
  'retention.sweep',
];

/** Who did it: a credential (its kind and id), or the server itself (the retention sweep), or the local CLI. */
export interface AuditActor {
  kind: 'master' | 'apiKey' | 'searchToken' | 'system' | 'cli';
  id: string;
}

export const AUDIT_ACTOR_KINDS: readonly AuditActor['kind'][] = [
  'master',
  'apiKey',
  'searchToken',
  'system',
  'cli',
];

export interface AuditInput {
  org: string;
  actor: AuditActor;
  action: AuditAction;
  /**
   * A person's identifier the action was about (an erasure's username, say): never stored in clear, only as the
   * organization's keyed hash of `kind:value`.
   */
  subject?: { kind: string; value: string };
  /** What it was done to, when that is not a person: a key id, a job id, an organization id. */
  target?: string;
  /** How many rows it read, removed or wrote. */
  rows?: number;
  /** Anything else worth keeping (settings changed, a filter, a format), never a person's identifier. */
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  id: string;
  org: string;
  at: Date;
  actorKind: AuditActor['kind'];
  actorId: string;
  action: AuditAction;
  /** The keyed hash of the subject (`hmac-sha256:<hex>`), or null. */
  subjectHash: string | null;
  subjectKind: string | null;
  target: string | null;
  rows: number | null;
  details: Record<string, unknown> | null;
}

export const AUDIT_LOG: EntityTable<AuditEntry> = {
  name: 'audit_log',
  key: ['id'],
  columns: {
    id: 'text',
    org: 'text',
    at: 'timestamp',
    actorKind: 'text',
    actorId: 'text',
    action: 'text',
    subjectHash: 'text',
    subjectKind: 'text',
    target: 'text',
    rows: 'integer',
    details: 'json',
  },
};

/** Which entries a read wants; every filter is optional and they all hold together. */
export interface AuditQuery {
  action?: AuditAction;
  /** Entries at or after this time. */
  from?: Date;
  /** Entries before this time. */
  to?: Date;
  actorId?: string;
  /** The entries about one person: the identifier is hashed here, and only its hash is compared. */
  subject?: { kind: string; value: string };
  /** Entries older than this entry id (the `next` of the page before): newest first, page by page. */
  before?: string;
  limit: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `before` for the next (older) page; null when this page is the last. */
  next: string | null;
}

export const AUDIT_LIMIT_MAX = 1000;

/** HKDF's info for the subject key: a key for this use alone, whatever else the token secret keys. */
const SUBJECT_KEY_INFO = 'openua audit subject';

export class AuditLog {
  constructor(readonly storage: Storage) {}

  /**
   * Appends one entry; resolves once it is stored. Callers record before they answer that an action is done, so
   * a failed write fails the action's answer instead of leaving an action nobody can see.
   */
  async record(input: AuditInput): Promise<AuditEntry> {
    // A log that is never erased must not hold the identifier in clear, even by a caller's slip; redacting
    // rather than refusing, because an identifier may by chance equal an ordinary word of the details ("delete").
    const details = input.subject ? redact(input.details, input.subject.value) : input.details;
    const now = Date.now();
    const entry: AuditEntry = {
      // Time-ordered, so the id alone orders the log and pages it.
      id: newEventId(now),
      org: input.org,
      at: new Date(now),
      actorKind: input.actor.kind,
      actorId: input.actor.id,
      action: input.action,
      subjectHash: input.subject ? await this.subjectHash(input.org, input.subject) : null,
      subjectKind: input.subject?.kind ?? null,
      target: input.target ?? null,
      rows: input.rows ?? null,
      details: (details as Record<string, unknown> | undefined) ?? null,
    };
    await this.storage.upsert(AUDIT_LOG, entry);
    return entry;
  }

  /** An organization's entries, newest first. */
  async list(org: string, query: AuditQuery): Promise<AuditPage> {
    const filters: RecordFilter[] = [];
    const eq = (field: string, value: string) => filters.push({ kind: 'compare', op: 'eq', field, value });
    if (query.action) eq('action', query.action);
    if (query.actorId) eq('actorId', query.actorId);
    if (query.subject) {
      eq('subjectKind', query.subject.kind);
      eq('subjectHash', await this.subjectHash(org, query.subject));
    }
    if (query.from) filters.push({ kind: 'compare', op: 'ge', field: 'at', value: query.from });
    if (query.to) filters.push({ kind: 'compare', op: 'lt', field: 'at', value: query.to });
    if (query.before) filters.push({ kind: 'compare', op: 'lt', field: 'id', value: query.before });
    const limit = query.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_LIMIT_MAX) {
      const low = limit < 1;
      throw invalid([
        {
          field: 'limit',
          rule: low ? 'minimum' : 'maximum',
          message: `must be an integer from 1 to ${AUDIT_LIMIT_MAX}`,
          received: limit,
          limit: low ? 1 : AUDIT_LIMIT_MAX,
        },
      ]);
    }
    const { rows } = await this.storage.query(
      AUDIT_LOG,
      { org },
      {
        where: { kind: 'and', filters },
        orderBy: [{ field: 'id', descending: true }],
        // One more than asked tells whether an older page exists without counting the whole log.
        limit: limit + 1,
      },
    );
    const entries = rows.slice(0, limit);
    return { entries, next: rows.length > limit ? (entries.at(-1)?.id ?? null) : null };
  }

  /**
   * The organization's keyed hash of a person's identifier, `hmac-sha256:<hex>` of `kind:value`. The key is derived
   * from the organization's token secret (HKDF), so there is no second secret to keep, and it is never answered:
   * without it nobody can test guesses of identifiers against the log.
   */
  async subjectHash(org: string, subject: { kind: string; value: string }): Promise<string> {
    const [organization] = await this.storage.find(ORGANIZATIONS, { id: org });
    if (!organization) throw notFound(`Organization ${JSON.stringify(org)} does not exist`);
    const key = Buffer.from(hkdfSync('sha256', organization.tokenSecret, org, SUBJECT_KEY_INFO, 32));
    const mac = createHmac('sha256', key).update(`${subject.kind}:${subject.value}`, 'utf8').digest('hex');
    return `hmac-sha256:${mac}`;
  }
}

/** `details` with every text (at any depth, keys too) that holds the identifier replaced by a mark. */
function redact(details: unknown, value: string): unknown {
  const clean = (text: string) => (value !== '' && text.includes(value) ? REDACTED : text);
  if (typeof details === 'string') return clean(details);
  if (Array.isArray(details)) return details.map((item) => redact(item, value));
  if (details && typeof details === 'object' && !(details instanceof Date)) {
    return Object.fromEntries(
      Object.entries(details).map(([key, item]) => [clean(key), redact(item, value)]),
    );
  }
  return details;
}

const REDACTED = '[subject]';

/** The actor of a request's credential. */
export const auditActor = (credential: {
  kind: 'master' | 'apiKey' | 'searchToken';
  id: string;
}): AuditActor => ({
  kind: credential.kind,
  id: credential.id,
});

/**
 * The actor of a CLI command that works on the store itself (no credential): the operating-system user who ran it,
 * or its uid where the system has no name for it (a container without a passwd entry). Not $USER: anyone can set it.
 */
export function cliActor(): AuditActor {
  let id: string;
  try {
    id = userInfo().username;
  } catch {
    id = `uid:${process.getuid?.() ?? 'unknown'}`;
  }
  return { kind: 'cli', id };
}
