import { randomUUID } from 'node:crypto';
import type { Credential } from '../auth/credential.ts';
import { invalid, type Violation } from '../core/errors.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { EventReader } from '../ingest/event-reader.ts';
import type { Intake, Outcome } from '../ingest/intake.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import { keyedEventId } from '../model/event-id.ts';
import { dedupWindowMs } from '../model/ingest-settings.ts';
import { timeBoundsViolation } from '../model/timestamps.ts';
import type { RecordFilter } from '../storage/storage.ts';
import {
  type ChannelRecord,
  CONVERSATIONS,
  type EntitySet,
  KPI_EVENTS,
  PARTICIPANTS,
  SESSIONS,
} from './entity-sets.ts';
import type { KpiEvents } from './kpi-events.ts';
import {
  CONVERSATION_FIELDS,
  type CorrelatedItem,
  customDataOf,
  EVENT_ITEM_FIELDS,
  EVENT_PLACE_FIELDS,
  type InitAnswer,
  type LogAnswer,
  PARTICIPANT_FIELDS,
  REGION_FIELDS,
  readFields,
  readInitLogAnalytics,
  readLogAnalyticsEvent,
  SESSION_FIELDS,
} from './payloads.ts';
import { type RecordChanges, showRecord } from './record-body.ts';
import type { ChannelRecords } from './records.ts';

type Payload = Record<string, unknown>;

/** The time a record stands at in a conversation's story: its own timestamp, else when it was stored. */
const RECORD_TIME: { set: EntitySet; kind: CorrelatedItem['kind']; field: string }[] = [
  { set: CONVERSATIONS, kind: 'conversation', field: 'conversationTimestamp' },
  { set: SESSIONS, kind: 'session', field: 'createdTimestamp' },
  { set: PARTICIPANTS, kind: 'participant', field: 'addedTimestamp' },
];

const carries = (set: EntitySet | undefined, id: string): RecordFilter => {
  const correlation: RecordFilter = { kind: 'compare', op: 'eq', field: 'correlationId', value: id };
  const external = !set || set.attributes.some((a) => a.field === 'externalCorrelationId');
  return external
    ? {
        kind: 'or',
        filters: [correlation, { kind: 'compare', op: 'eq', field: 'externalCorrelationId', value: id }],
      }
    : correlation;
};

/**
 * The JS API over HTTP: initLogAnalytics and logAnalyticsEvent, with the semantics of the desktop's
 * calls, and the correlation view that follows one id through every record and event.
 */
export class ChannelAnalytics {
  constructor(
    private readonly records: ChannelRecords,
    private readonly kpiEvents: KpiEvents,
    private readonly reader: EventReader,
    private readonly intake: Intake,
  ) {}

  /**
   * Creates or updates the conversation, its session and the session's participants in one transaction.
   * A replay with the same ids changes nothing (and writes nothing).
   */
  async initLogAnalytics(body: unknown, context: IngestContext<Credential>): Promise<InitAnswer> {
    const payload = readInitLogAnalytics(body);
    const { conversation } = payload.data;
    const { session } = conversation;
    const path = 'data.conversation';
    const read = [
      readFields(CONVERSATIONS, conversation, CONVERSATION_FIELDS, path, ['conversationId', 'providerId']),
      readFields(CONVERSATIONS, conversation.regionData, REGION_FIELDS, `${path}.regionData`),
      readFields(SESSIONS, session, SESSION_FIELDS, `${path}.session`, ['providerSessionId']),
    ];
    const conversationCustom = customDataOf(conversation.customData, `${path}.customData`);
    const sessionCustom = customDataOf(session?.customData, `${path}.session.customData`);
    const errors: Violation[] = [
      ...read.flatMap((r) => r.violations),
      ...conversationCustom.violations,
      ...sessionCustom.violations,
    ];
    if (!session) errors.push({ field: `${path}.session`, rule: 'required', message: 'is required' });
    const [conversationValues, region, sessionValues] = read.map((r) => r.values) as [
      Payload,
      Payload,
      Payload,
    ];
    const conversationId = conversationValues.conversationId as string;
    const providerSessionId = sessionValues.providerSessionId as string;
    // The earlier shape repeats the ids on the session and participants: they must agree.
    const agree = (value: unknown, expected: string, field: string) => {
      if (value !== undefined && value !== null && value !== expected) {
        errors.push({
          field,
          rule: 'sameAs',
          limit: expected,
          message: `must be ${expected}`,
          received: value,
        });
      }
    };
    agree(session?.conversationId, conversationId, `${path}.session.conversationId`);
    const participants = (session?.participants ?? []).map((p, i) => {
      const at = `${path}.session.participants[${i}]`;
      const fields = readFields(PARTICIPANTS, p, PARTICIPANT_FIELDS, at, ['participantId']);
      const custom = customDataOf(p.customData, `${at}.customData`);
      errors.push(...fields.violations, ...custom.violations);
      agree(p.conversationId, conversationId, `${at}.conversationId`);
      agree(p.sessionId, providerSessionId, `${at}.sessionId`);
      return { values: fields.values, customData: custom.data };
    });
    const ids = participants.map((p) => p.values.participantId);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) {
        errors.push({
          field: `${path}.session.participants[${i}].participantId`,
          rule: 'uniqueItems',
          message: 'names a participant already listed',
          received: id,
        });
      }
    });
    if (errors.length > 0) throw invalid(errors);

    const correlationId = payload.correlationId ?? randomUUID();
    const { org } = context;
    const keep = async (set: EntitySet, key: unknown[], changes: RecordChanges) => {
      // Fresh, not cached: the record is about to be rewritten from it.
      const existing = await this.records.byKey(set, org, key, true);
      // A record keeps the correlation id of the call that created it.
      changes.values.correlationId = existing?.correlationId ?? correlationId;
      return this.records.merge(set, org, changes, existing);
    };
    const conversationRecord = await keep(CONVERSATIONS, [conversationId], {
      values: { ...conversationValues, ...region },
      customData: conversationCustom.data,
    });
    // Checked before anything is written: the provider exists and takes analytics.
    const refused = await this.records.check(CONVERSATIONS, conversationRecord.record, 'fields', `${path}.`);
    if (refused.length > 0) throw invalid(refused);
    const sessionRecord = await keep(SESSIONS, [conversationId, providerSessionId], {
      values: { ...sessionValues, conversationId },
      customData: sessionCustom.data,
    });
    const participantRecords = await Promise.all(
      participants.map((p) =>
        keep(PARTICIPANTS, [conversationId, providerSessionId, p.values.participantId], {
          values: { ...p.values, conversationId, providerSessionId },
          customData: p.customData,
        }),
      ),
    );
    const written = [
      { set: CONVERSATIONS, ...conversationRecord },
      { set: SESSIONS, ...sessionRecord },
      ...participantRecords.map((r) => ({ set: PARTICIPANTS, ...r })),
    ].filter((w) => w.changed);
    await this.records.commit(written);
    return {
      result:
        `initLogAnalytics succeeded: conversation ${conversationId}, session ${providerSessionId}, ` +
        `${participantRecords.length} participant(s); ${written.length} record(s) written`,
      correlationId,
      conversationDataId: conversationRecord.record.id,
      sessionDataId: sessionRecord.record.id,
      participantDataIds: participantRecords.map((r) => r.record.id),
    };
  }

  /**
   * Turns every item of `events[]` into a KPI event and acknowledges them together, once they are durable.
   * Any violation in any item refuses the whole call, and nothing is stored.
   */
  async logAnalyticsEvent(body: unknown, context: IngestContext<Credential>): Promise<LogAnswer> {
    const { events, correlationId, flagged, conversationId } = await this.prepareLog(body, context);
    const outcomes = await this.intake.submit(context.org, events, dedupWindowMs(context.settings));
    const duplicates = outcomes.filter(isDuplicate).length;
    return {
      result: `logAnalyticsEvent succeeded: ${events.length - duplicates} KPI event(s) logged for conversation ${conversationId}`,
      correlationId,
      eventIds: outcomes.map((o) => o.id),
      duplicates,
      flagged,
    };
  }

  /**
   * A logAnalyticsEvent call's KPI events, checked and built but not committed (the batch endpoint commits them).
   * `bounded`: each event's time must fall within the organization's time bounds, as a batch item's must; the
   * JS API itself takes historical times, so that conversations can be loaded after the fact.
   */
  async prepareLog(
    body: unknown,
    context: IngestContext<Credential>,
    bounded = false,
  ): Promise<{ events: CanonicalEvent[]; correlationId: string; flagged: string[]; conversationId: string }> {
    const payload = readLogAnalyticsEvent(body);
    const { data } = payload;
    const place = readFields(KPI_EVENTS, data, EVENT_PLACE_FIELDS, 'data', ['conversationId']);
    if (place.violations.length > 0) throw invalid(place.violations);
    const named = (field: string, fallback: string) => {
      const alias = EVENT_PLACE_FIELDS.find((p) => p.field === field)?.names.find(
        (n) => data[n] !== undefined,
      );
      return `data.${alias ?? fallback}`;
    };
    const links = await this.kpiEvents.place(context.org, {
      conversationId: place.values.conversationId as string,
      providerSessionId: place.values.providerSessionId as string | undefined,
      participantId: place.values.participantId as string | undefined,
      fields: {
        conversationId: 'data.conversationId',
        providerSessionId: named('providerSessionId', 'providerSessionId'),
        participantId: named('participantId', 'participantId'),
      },
    });
    const errors: Violation[] = Array.isArray(links) ? [...links] : [];
    const correlationId = payload.correlationId ?? randomUUID();
    const events: CanonicalEvent[] = [];
    const flagged = new Set<string>();
    for (const [i, item] of data.events.entries()) {
      const at = `data.events[${i}]`;
      const fields = readFields(KPI_EVENTS, item, EVENT_ITEM_FIELDS, at);
      const custom = customDataOf(item.customData, `${at}.customData`);
      errors.push(...fields.violations, ...custom.violations);
      // An item without its own kpiEventName is the event the call names.
      const name = (fields.values.eventType as string | undefined) ?? payload.eventName;
      const definition = await this.kpiEvents.resolveName(
        context.org,
        name,
        item.kpiEventName === undefined ? 'eventName' : `${at}.kpiEventName`,
      );
      if ('rule' in definition) {
        if (!errors.some((e) => e.rule === 'kpiEventDefinition' && e.received === name))
          errors.push(definition);
        continue;
      }
      if (definition.flag) flagged.add(name);
      if (errors.length > 0 || Array.isArray(links)) continue;
      const values = { ...place.values, ...fields.values, eventType: name };
      const event = this.kpiEvents.build(context, correlationId, values, custom.data, links, definition);
      const ownKey = item.eventId;
      if (ownKey !== undefined && context.idempotencyKey !== undefined && ownKey !== context.idempotencyKey) {
        // Named where the other key came from: a batch item's `eventId`, the one caller that gives it.
        errors.push({
          field: 'eventId',
          rule: 'idempotencyKey',
          message: `differs from ${at}.eventId: an event has one key`,
          received: context.idempotencyKey,
        });
        continue;
      }
      const bounds =
        bounded && event.eventTime
          ? timeBoundsViolation(
              event.derivedTime,
              event.receivedTime,
              context.settings,
              `${at}.eventTimestamp`,
            )
          : undefined;
      if (bounds) {
        errors.push(bounds);
        continue;
      }
      const idempotencyKey = ownKey ?? context.idempotencyKey;
      if (idempotencyKey !== undefined) {
        event.idempotencyKey = idempotencyKey;
        // Its key's id, so a retry that reaches another server is the same event (keyedEventId).
        event.id = keyedEventId(context.org, idempotencyKey, event.eventTime);
      }
      events.push(event);
    }
    if (errors.length > 0) throw invalid(errors);
    return {
      events,
      correlationId,
      flagged: [...flagged],
      conversationId: place.values.conversationId as string,
    };
  }

  /** Every record and event that carries the id (as correlationId or externalCorrelationId), in time order. */
  async correlation(org: string, id: string): Promise<CorrelatedItem[]> {
    const items: CorrelatedItem[] = [];
    for (const { set, kind, field } of RECORD_TIME) {
      const { rows } = await this.records.list(set, org, { where: carries(set, id) });
      for (const row of rows)
        items.push({ kind, time: timeOf(row, field), record: showRecord(set, row, 'fields') });
    }
    const { rows } = await this.reader.queryEvents(org, {
      where: carries(undefined, id),
      orderBy: [{ field: 'derivedTime', descending: false }],
      limit: 10_000,
    });
    for (const event of rows) {
      items.push({
        kind: event.category === 'kpi' ? 'kpiEvent' : 'event',
        time: event.derivedTime.toISOString(),
        record: event as unknown as Record<string, unknown>,
      });
    }
    // Stable: records that share a time keep the order conversation, session, participant, events.
    return items.sort((a, b) => a.time.localeCompare(b.time));
  }
}

const timeOf = (row: ChannelRecord, field: string) =>
  ((row[field] as Date | null) ?? row.createdOn).toISOString();

const isDuplicate = (outcome: Outcome) => outcome.status === 'duplicate';
