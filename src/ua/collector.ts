import type { Static } from '@sinclair/typebox';
import type { Credential } from '../auth/credential.ts';
import { type Identity, type IdentityFields, resolveIdentity } from '../auth/identity.ts';
import { invalid, OpenUAError, type Violation } from '../core/errors.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { Intake, Outcome } from '../ingest/intake.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import { normaliseCustomData } from '../model/custom-data.ts';
import { keyedEventId, newEventId } from '../model/event-id.ts';
import { dedupWindowMs } from '../model/ingest-settings.ts';
import { languageFields } from '../model/language.ts';
import { deriveTime, timeBoundsViolation } from '../model/timestamps.ts';
import { queryUid, UA_EVENT_MODELS, type UaEventKind, type UaEventModel } from './event-kinds.ts';
import type { EventAnswerSchema, Payload, SearchAnswerSchema } from './schemas.ts';
import { resolveVisitor, type VisitTracker } from './visits.ts';

/** What a UA request says outside the event body: the ingest context, and where its visitor may come from. */
export interface UaRequestContext extends IngestContext<Credential> {
  visitorParam?: string;
  cookie?: string;
  prioritizeVisitorParameter: boolean;
}

/** The v15 answer to one event (the routes' declared answer): a search's also names the stored search event. */
export type EventAnswer = Static<typeof EventAnswerSchema> & Partial<Static<typeof SearchAnswerSchema>>;

export interface Prepared {
  events: CanonicalEvent[];
  /** The visitor to keep in the visitor cookie: unset when every event named its visitor by clientId. */
  cookieVisitor?: string;
}

export interface Logged {
  answers: EventAnswer[];
  cookieVisitor?: string;
  /** Whether any event was a duplicate of one stored before: its answer is the first one's. */
  replayed: boolean;
}

const optionalString = (payload: Payload, field: string) => (payload[field] as string | undefined) ?? null;

/** The client's time for the event: `eventTime` (ISO 8601) in a v15 body, `tm` (ms) in a collect one. */
const clientTime = (payload: Payload) =>
  payload.eventTime === undefined ? null : new Date(payload.eventTime as string | number);

/** A payload that passed its checks, in v15 field names, with its customData normalised. */
interface Checked {
  payload: Payload;
  customData: Record<string, string>;
  eventTime: Date | null;
  derivedTime: Date;
  idempotencyKey: string | null;
}

/** An event's answer, read back from the event itself (a duplicate's is the stored event's). */
const answerOf = (event: CanonicalEvent): EventAnswer => ({
  ...(event.category === 'search' && { searchEventUid: event.id }),
  visitId: event.visitId as string,
  visitorId: event.visitorId as string,
  clientId: event.clientId as string,
});

/**
 * The UA Write API's one path from parsed bodies to committed canonical events, for every kind of event:
 * validate every rule, apply the identity rules, normalise customData, check the client's times, place
 * each event in its visit, then commit through the intake (idempotency keys, the ingest log). A kind adds
 * only its rules and its own fields (event-kinds.ts).
 */
export class UaCollector {
  constructor(
    private readonly visits: VisitTracker,
    private readonly intake: Intake,
  ) {}

  /**
   * Logs events of one kind, all or none: one invalid item refuses the request with every violation,
   * each named by its item (`[2].queryText`) when `batch` is set, and nothing is stored.
   */
  async log(
    kind: UaEventKind,
    payloads: readonly Payload[],
    context: UaRequestContext,
    batch = false,
  ): Promise<Logged> {
    const { events, cookieVisitor } = await this.prepare(kind, payloads, context, batch);
    const outcomes = await this.intake.submit(context.org, events, dedupWindowMs(context.settings));
    const answers: EventAnswer[] = [];
    let replayed = false;
    for (let index = 0; index < outcomes.length; index++) {
      const outcome = outcomes[index] as Outcome;
      const event = events[index] as CanonicalEvent;
      if (outcome.status === 'duplicate') replayed = true;
      const original =
        outcome.status === 'duplicate' ? await this.intake.stored(context.org, outcome.id) : event;
      answers.push(answerOf(original ?? event));
    }
    return { answers, cookieVisitor, replayed };
  }

  /** The events of a request, checked and built but not committed (the batch endpoint commits them). */
  async prepare(
    kind: UaEventKind,
    payloads: readonly Payload[],
    context: UaRequestContext,
    batch = false,
  ): Promise<Prepared> {
    const model = UA_EVENT_MODELS[kind];
    const violations: Violation[] = [];
    const checked: Checked[] = [];
    // Plain loops and no closures: this runs for every event, and each closure costs a little.
    for (let index = 0; index < payloads.length; index++) {
      const raw = payloads[index] as Payload;
      const found = model.check(raw);
      const payload = model.toV15 ? model.toV15(raw) : raw;
      const customData = normaliseCustomData(
        isObject(payload.customData) ? payload.customData : {},
        // Measurement-protocol custom data is the body's own keys, so a violation names the key alone.
        model.toV15 ? '' : 'customData',
      );
      found.push(...customData.violations);
      const eventTime = found.length === 0 ? clientTime(payload) : null;
      const derivedTime = deriveTime({
        eventTime,
        sentTime: context.sentAt ?? null,
        receivedTime: context.receivedAt,
      });
      const bounds =
        eventTime &&
        timeBoundsViolation(derivedTime, context.receivedAt, context.settings, bodyName(model, 'eventTime'));
      if (bounds) found.push(bounds);
      const idempotencyKey = (payload.eventId as string | undefined) ?? context.idempotencyKey ?? null;
      if (
        context.idempotencyKey !== undefined &&
        payload.eventId !== undefined &&
        payload.eventId !== context.idempotencyKey
      ) {
        found.push({
          field: 'eventId',
          rule: 'idempotencyKey',
          message: 'differs from the Idempotency-Key header: an event has one key',
          received: payload.eventId,
        });
      }
      for (const v of found) violations.push({ ...v, field: itemPrefix(batch, index) + v.field });
      checked.push({ payload, customData: customData.data, eventTime, derivedTime, idempotencyKey });
    }
    if (violations.length > 0) throw invalid(violations);

    // Identity can still refuse (impersonation): decide it for every item before any visit is touched.
    const identities: Identity[] = [];
    for (let index = 0; index < checked.length; index++) {
      try {
        identities.push(
          resolveIdentity((checked[index] as Checked).payload as IdentityFields, context.credential),
        );
      } catch (error) {
        // Named as the body spells the field, and by batch item.
        if (!(error instanceof OpenUAError) || !error.violations) throw error;
        const renamed = error.violations.map((v) => ({
          ...v,
          field: itemPrefix(batch, index) + bodyName(model, v.field),
        }));
        throw new OpenUAError(error.code, error.message, renamed);
      }
    }
    const events: CanonicalEvent[] = [];
    let cookieVisitor: string | undefined;
    for (let index = 0; index < checked.length; index++) {
      const { payload, customData, eventTime, derivedTime, idempotencyKey } = checked[index] as Checked;
      const identity = identities[index] as Identity;
      const visitor = resolveVisitor({
        clientId: payload.clientId as string | undefined,
        visitorParam: context.visitorParam,
        cookie: context.cookie,
        prioritizeVisitorParameter: context.prioritizeVisitorParameter,
      });
      if (payload.clientId === undefined) cookieVisitor = visitor.visitorId;
      const visitId = await this.visits.visit(
        context.org,
        visitor.visitorId,
        context.receivedAt,
        visitor.isNew,
      );
      events.push({
        // A keyed event's id is its key's, so a retry that reaches another server is the same event.
        id:
          idempotencyKey === null
            ? newEventId(context.receivedAt.getTime())
            : keyedEventId(context.org, idempotencyKey, eventTime),
        org: context.org,
        category: model.category,
        eventValue: null,
        eventTime,
        sentTime: context.sentAt ?? null,
        receivedTime: context.receivedAt,
        derivedTime,
        ...languageFields(optionalString(payload, 'language')),
        ...identity,
        clientId: visitor.clientId,
        visitorId: visitor.visitorId,
        visitId,
        originContext: optionalString(payload, 'originContext'),
        originLevel2: optionalString(payload, 'originLevel2'),
        originLevel3: optionalString(payload, 'originLevel3'),
        outcome: (payload.outcome as number | undefined) ?? null,
        splitTestRunName: optionalString(payload, 'splitTestRunName'),
        splitTestRunVersion: optionalString(payload, 'splitTestRunVersion'),
        trackingId: optionalString(payload, 'trackingId'),
        lastSearchQueryUid: queryUid(payload.lastSearchQueryUid),
        userAgent: optionalString(payload, 'userAgent'),
        correlationId: null,
        credentialId: context.credential.id,
        ...(idempotencyKey !== null && { idempotencyKey }),
        customData,
        ...model.fields(payload, context.credential),
      });
    }
    return { events, cookieVisitor };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const itemPrefix = (batch: boolean, index: number) => (batch ? `[${index}].` : '');
const bodyName = (model: UaEventModel, field: string) => model.wireName?.(field) ?? field;
