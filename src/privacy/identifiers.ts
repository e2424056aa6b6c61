import { type Static, Type } from '@sinclair/typebox';
import { CONVERSATIONS, type EntitySet, PARTICIPANTS, SESSIONS } from '../channel/entity-sets.ts';
import { invalid } from '../core/errors.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { RecordFilter } from '../storage/storage.ts';

/**
 * The identifiers a person's erasure and export take, and where each lives: the event field that holds it, and
 * the channel record tables (with the field) whose records are about the person it names.
 */
export const IDENTIFIER_KINDS = [
  'username',
  'clientId',
  'visitorId',
  'conversationId',
  'participantId',
] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

export interface Subject {
  kind: IdentifierKind;
  value: string;
}

/** Records holding a conversation's id are about its customer: address, contact, additional data. */
const CONVERSATION_RECORDS = [CONVERSATIONS, SESSIONS, PARTICIPANTS].map((set) => ({
  set,
  field: 'conversationId',
}));

export const IDENTIFIER_PLACES: Record<
  IdentifierKind,
  { eventField: keyof CanonicalEvent & string; records: { set: EntitySet; field: string }[] }
> = {
  username: { eventField: 'username', records: [] },
  clientId: { eventField: 'clientId', records: [] },
  visitorId: { eventField: 'visitorId', records: [] },
  conversationId: { eventField: 'conversationId', records: CONVERSATION_RECORDS },
  participantId: {
    eventField: 'participantId',
    records: [{ set: PARTICIPANTS, field: 'participantId' }],
  },
};

/**
 * Every event field an identifier may sit in, whatever its kind: an anonymised event has the identifier replaced
 * in each (a UA client id is often the visitor id too, an agent's username its participant id).
 */
export const IDENTIFYING_EVENT_FIELDS = [
  'username',
  'clientId',
  'visitorId',
  'conversationId',
  'participantId',
] as const satisfies readonly (keyof CanonicalEvent)[];

/** The events of an organization that belong to the subject. */
export const subjectEvents = (subject: Subject): RecordFilter => ({
  kind: 'compare',
  op: 'eq',
  field: IDENTIFIER_PLACES[subject.kind].eventField,
  value: subject.value,
});

const identifier = (description: string) =>
  Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description }));

/** The body that names a person: exactly one identifier (checked by subjectOf, so the refusal names them). */
export const SubjectBody = Type.Object(
  {
    username: identifier('A UA username (and its display name)'),
    clientId: identifier('A UA client id'),
    visitorId: identifier('A UA visitor id'),
    conversationId: identifier('A Channel Analytics conversation id (its records, events and units)'),
    participantId: identifier('A Channel Analytics participant id (an agent or a customer)'),
  },
  { additionalProperties: false },
);
export type SubjectBody = Static<typeof SubjectBody>;

/** The one identifier a body names, or 400 naming those it gave (none, or more than one). */
export function subjectOf(body: SubjectBody): Subject {
  const given = IDENTIFIER_KINDS.filter((kind) => body[kind] !== undefined);
  const [kind] = given;
  if (given.length === 1 && kind) return { kind, value: body[kind] as string };
  const fields = given.length === 0 ? [''] : given;
  throw invalid(
    fields.map((field) => ({
      field,
      rule: 'oneIdentifier',
      message:
        given.length === 0
          ? `Name the person by exactly one of ${IDENTIFIER_KINDS.join(', ')}; none was given.`
          : `Name the person by exactly one identifier; ${given.join(' and ')} were given.`,
      received: field ? body[field as IdentifierKind] : undefined,
      limit: IDENTIFIER_KINDS.join(', '),
    })),
  );
}
