import type { EventReader } from '../ingest/event-reader.ts';
import { REJECTIONS, type Rejection, type Rejections } from '../ingest/rejections.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { EntityTable, Storage } from '../storage/storage.ts';
import { IDENTIFIER_PLACES, type IdentifierKind, type Subject, subjectEvents } from './identifiers.ts';

/** Events or rejections read per store call. */
const PAGE = 1_000;

/** Everything the store holds that carries a person's identifier, as one document. */
export interface PersonExport {
  subject: { kind: IdentifierKind; value: string };
  generatedAt: Date;
  /** Every event acknowledged before this instant is in the document (the ingest log is loaded first). */
  coveredUntil: Date;
  /** Each as GET /api/v1/events answers it, newest first. */
  events: CanonicalEvent[];
  /** The channel records about the person, by table. */
  records: Record<string, object[]>;
  /** Rejected payloads whose text holds the identifier. */
  rejections: Rejection[];
}

export interface PersonExportParts {
  storage: Storage;
  reader: EventReader;
  rejections: Rejections;
}

export async function personExport(
  parts: PersonExportParts,
  org: string,
  subject: Subject,
): Promise<PersonExport> {
  const coveredUntil = new Date();
  const where = subjectEvents(subject);
  const events: CanonicalEvent[] = [];
  // The first read loads what waits in the ingest log; the pages after it read the store as it then was.
  for (let offset = 0; ; offset += PAGE) {
    const read = offset === 0 ? parts.reader : parts.storage;
    const { rows } = await read.queryEvents(org, { where, limit: PAGE, offset });
    events.push(...rows);
    if (rows.length < PAGE) break;
  }
  const records: Record<string, object[]> = {};
  for (const { set, field } of IDENTIFIER_PLACES[subject.kind].records) {
    const table = set.table as EntityTable<object>;
    records[table.name] = [
      ...(records[table.name] ?? []),
      ...(await parts.storage.find(table, { org, [field]: subject.value })),
    ];
  }
  const rejections: Rejection[] = [];
  const holding = { kind: 'match', op: 'contains', field: 'payload', value: subject.value } as const;
  for (let offset = 0; ; offset += PAGE) {
    const { rows } =
      offset === 0
        ? await parts.rejections.list(org, { where: holding, limit: PAGE })
        : await parts.storage.query(REJECTIONS, { org }, { where: holding, limit: PAGE, offset });
    rejections.push(...rows);
    if (rows.length < PAGE) break;
  }
  return { subject, generatedAt: new Date(), coveredUntil, events, records, rejections };
}

/** How many rows a document holds, for the audit log. */
export const exportedRows = (document: PersonExport) =>
  document.events.length +
  Object.values(document.records).reduce((n, rows) => n + rows.length, 0) +
  document.rejections.length;
