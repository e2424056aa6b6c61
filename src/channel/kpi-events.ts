import type { Credential } from '../auth/credential.ts';
import { resolveIdentity } from '../auth/identity.ts';
import { invalid, notFound, type Violation } from '../core/errors.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { EventReader } from '../ingest/event-reader.ts';
import type { Intake } from '../ingest/intake.ts';
import { type CanonicalEvent, NO_UA_FIELDS } from '../model/canonical-event.ts';
import { newEventId } from '../model/event-id.ts';
import { deriveTime } from '../model/timestamps.ts';
import type { RecordFilter, RecordPage, RecordQuery, Storage } from '../storage/storage.ts';
import { type ChannelRecord, CONVERSATIONS, KPI_EVENTS, PARTICIPANTS, SESSIONS } from './entity-sets.ts';
import type { KpiDefinitions } from './kpi-definitions.ts';
import { mergeCustomData, readRecordBody } from './record-body.ts';
import type { ChannelRecords } from './records.ts';

/** What a KPI event says about where it happened, with the names the caller used for each, for errors. */
export interface KpiEventPlace {
  conversationId: string;
  providerSessionId?: string;
  participantId?: string;
  fields: { conversationId: string; providerSessionId: string; participantId: string };
}

/** What the server copies onto a KPI event from the records it belongs to. */
export interface KpiEventLinks {
  providerId: string;
  sessionDataId: string | null;
  channel: string | null;
  queueId: string | null;
  queueName: string | null;
}

const IS_KPI: RecordFilter = { kind: 'compare', op: 'eq', field: 'category', value: 'kpi' };
const byId = (id: string): RecordFilter => ({
  kind: 'and',
  filters: [IS_KPI, { kind: 'compare', op: 'eq', field: 'id', value: id }],
});

/**
 * KPI events: built from logAnalyticsEvent items or KPI Event Data bodies, checked against the records
 * they belong to and the KPI event definitions, and written through the one ingest path (group commit
 * into the ingest log, then the store), like every other event.
 */
export class KpiEvents {
  constructor(
    private readonly records: ChannelRecords,
    private readonly definitions: KpiDefinitions,
    private readonly intake: Intake,
    private readonly reader: EventReader,
    private readonly storage: Storage,
  ) {}

  /**
   * The conversation must exist, and the session and participant wherever they are named; the
   * conversation's provider must take analytics (otherwise this throws). Answers the links, or what is missing.
   */
  async place(org: string, place: KpiEventPlace): Promise<KpiEventLinks | Violation[]> {
    const missing = (field: string, label: string, value: unknown, order: string): Violation => ({
      field,
      rule: 'reference',
      limit: label,
      message: `no such ${label} in this organization; ${order}`,
      received: value,
    });
    const conversation = await this.records.byKey(CONVERSATIONS, org, [place.conversationId]);
    if (!conversation) {
      return [
        missing(
          place.fields.conversationId,
          CONVERSATIONS.set,
          place.conversationId,
          'call initLogAnalytics (or create Conversation Data) first',
        ),
      ];
    }
    const provider = await this.records.requireProviderOf(conversation, place.fields.conversationId);
    const violations: Violation[] = [];
    let session: ChannelRecord | undefined;
    if (place.providerSessionId !== undefined) {
      session = await this.records.byKey(SESSIONS, org, [place.conversationId, place.providerSessionId]);
      if (!session) {
        violations.push(
          missing(
            place.fields.providerSessionId,
            SESSIONS.set,
            place.providerSessionId,
            `the conversation ${JSON.stringify(place.conversationId)} has no session with this id`,
          ),
        );
      }
    }
    if (place.participantId !== undefined && violations.length === 0) {
      // Within a session the participant has a natural key (a cached read); at conversation level, any session.
      const found =
        place.providerSessionId === undefined
          ? (
              await this.records.where(PARTICIPANTS, org, {
                conversationId: place.conversationId,
                participantId: place.participantId,
              })
            ).length > 0
          : (await this.records.byKey(PARTICIPANTS, org, [
              place.conversationId,
              place.providerSessionId,
              place.participantId,
            ])) !== undefined;
      if (!found) {
        violations.push(
          missing(
            place.fields.participantId,
            PARTICIPANTS.set,
            place.participantId,
            `no participant with this id was added to the ${place.providerSessionId === undefined ? 'conversation' : 'session'}`,
          ),
        );
      }
    }
    if (place.providerSessionId === undefined && violations.length === 0) {
      // An event of the whole conversation (queued, ended, a notification) is placed in its first session's
      // queue and channel: where the conversation came in.
      const sessions = await this.records.where(SESSIONS, org, { conversationId: place.conversationId });
      session = sessions.sort((a, b) => a.createdOn.getTime() - b.createdOn.getTime())[0];
    }
    const text = (value: unknown) => (typeof value === 'string' ? value : null);
    return violations.length > 0
      ? violations
      : {
          providerId: provider.id,
          sessionDataId: place.providerSessionId === undefined ? null : (session?.id ?? null),
          channel: text(session?.channel) ?? text(conversation.channel),
          queueId: text(session?.queueId),
          queueName: text(session?.queueName),
        };
  }

  /** Whether the event name may be logged (see KpiDefinitions.resolve), as the event's definition and flag. */
  resolveName(org: string, name: string, field: string) {
    return this.definitions.resolve(org, name, field);
  }

  /** One canonical KPI event; `values` are KPI Event Data fields, already checked. */
  build(
    context: IngestContext<Credential>,
    correlationId: string | null,
    values: Record<string, unknown>,
    customData: Record<string, string>,
    links: KpiEventLinks,
    definition: { definitionId: string | null; flag: string | null },
  ): CanonicalEvent {
    const eventTime = (values.eventTime as Date | null | undefined) ?? null;
    const sentTime = context.sentAt ?? null;
    const identity = resolveIdentity({}, context.credential);
    return {
      id: newEventId(context.receivedAt.getTime()),
      org: context.org,
      category: 'kpi',
      eventType: values.eventType as string,
      eventValue: null,
      eventTime,
      sentTime,
      receivedTime: context.receivedAt,
      // The client's own time orders a conversation's events, corrected by its clock when a batch says when it
      // was sent; without one, the server's.
      derivedTime: deriveTime({ eventTime, sentTime, receivedTime: context.receivedAt }),
      ...NO_UA_FIELDS,
      username: identity.username,
      userDisplayName: identity.userDisplayName,
      anonymous: identity.anonymous,
      correlationId,
      credentialId: context.credential.id,
      customData,
      ...(values as Partial<CanonicalEvent>),
      ...links,
      kpiEventDefinitionId: definition.definitionId,
      flag: definition.flag,
    };
  }

  // ---- KPI Event Data, the OData entity set --------------------------------------------------------

  /** `POST msdyn_kpieventsdata`: conversation, session and participant must exist, in that order. */
  async create(context: IngestContext<Credential>, body: unknown): Promise<CanonicalEvent> {
    const read = readRecordBody(KPI_EVENTS, body, 'odata', 'create');
    if (read.violations.length > 0) throw invalid(read.violations);
    const values = read.changes.values;
    const links = await this.place(context.org, {
      conversationId: values.conversationId as string,
      providerSessionId: values.providerSessionId as string,
      participantId: values.participantId as string,
      fields: {
        conversationId: 'msdyn_conversationid',
        providerSessionId: 'msdyn_providersessionid',
        participantId: 'msdyn_participantid',
      },
    });
    if (Array.isArray(links)) throw invalid(links);
    const definition = await this.resolveName(context.org, values.eventType as string, 'msdyn_kpieventname');
    if ('rule' in definition) throw invalid([definition]);
    const customData = mergeCustomData({}, read.changes.customData);
    const event = this.build(context, null, values, customData, links, definition);
    // Through the intake, as every event: this entity set takes no idempotency key, so no window applies.
    await this.intake.submit(context.org, [event], 0);
    return event;
  }

  async get(org: string, id: string): Promise<CanonicalEvent> {
    const event = await this.reader.byId(org, id);
    if (!event) throw notFound(`No ${KPI_EVENTS.label} record ${JSON.stringify(id)} in this organization`);
    return event;
  }

  async list(org: string, query: RecordQuery): Promise<RecordPage<CanonicalEvent>> {
    const where: RecordFilter = query.where ? { kind: 'and', filters: [IS_KPI, query.where] } : IS_KPI;
    return this.reader.queryEvents(org, { ...query, where });
  }

  /** `PATCH`: the fields that do not place the event (its name, conversation, session, participant). */
  async update(org: string, id: string, body: unknown): Promise<CanonicalEvent> {
    const existing = await this.get(org, id);
    const read = readRecordBody(KPI_EVENTS, body, 'odata', 'update', existing);
    if (read.violations.length > 0) throw invalid(read.violations);
    const changes: Partial<CanonicalEvent> = { ...read.changes.values };
    if (Object.keys(read.changes.customData).length > 0) {
      changes.customData = mergeCustomData(existing.customData, read.changes.customData);
    }
    if ('eventTime' in changes)
      changes.derivedTime = deriveTime({ ...existing, eventTime: changes.eventTime ?? null });
    await this.storage.updateEvent(org, id, changes);
    return { ...existing, ...changes };
  }

  async remove(org: string, id: string): Promise<void> {
    if ((await this.reader.deleteEvents(org, byId(id))) === 0) {
      throw notFound(`No ${KPI_EVENTS.label} record ${JSON.stringify(id)} in this organization`);
    }
  }
}
