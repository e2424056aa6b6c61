import type { Credential } from '../auth/credential.ts';
import type { CanonicalEvent } from '../ingest/canonical-event.ts';
import { newEventId } from '../ingest/event-id.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import { invalid, OpenUAError, type Violation } from '../server/errors.ts';
import { normaliseCustomData } from './custom-data.ts';
import { type Payload, queryUid, UA_EVENT_MODELS, type UaEventKind } from './event-kinds.ts';
import { type IdentityFields, resolveIdentity } from './identity.ts';
import { resolveVisitor, type VisitTracker } from './visits.ts';

/** What a UA request says about its caller and visitor, outside the event body. */
export interface UaRequestContext {
  credential: Credential;
  org: string;
  visitorParam?: string;
  cookie?: string;
  prioritizeVisitorParameter: boolean;
  receivedAt: Date;
}

export interface VisitAnswer {
  visitId: string;
  visitorId: string;
  clientId: string;
}

/** The v15 answer to one event: a search's also names the stored search event. */
export type EventAnswer = VisitAnswer & { searchEventUid?: string };

export interface Logged {
  answers: EventAnswer[];
  /** The visitor to keep in the visitor cookie: unset when every event named its visitor by clientId. */
  cookieVisitor?: string;
}

const optionalString = (payload: Payload, field: string) => (payload[field] as string | undefined) ?? null;

/** A payload that passed its checks, in v15 field names, with its customData normalised. */
interface Checked {
  payload: Payload;
  customData: Record<string, string>;
}

/**
 * The UA Write API's one path from parsed bodies to committed canonical events, for every kind of event:
 * validate every rule, apply the identity rules, normalise customData, place each event in its visit,
 * and wait for the commit. A kind adds only its rules and its own fields (event-kinds.ts).
 */
export class UaCollector {
  constructor(
    private readonly visits: VisitTracker,
    private readonly writer: GroupCommit,
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
    const model = UA_EVENT_MODELS[kind];
    const itemPrefix = (index: number) => (batch ? `[${index}].` : '');
    const violations: Violation[] = [];
    const checked: Checked[] = [];
    payloads.forEach((raw, index) => {
      const prefix = itemPrefix(index);
      const found = model.check(raw);
      const payload = model.toV15 ? model.toV15(raw) : raw;
      const customData = normaliseCustomData(
        isObject(payload.customData) ? payload.customData : {},
        // Measurement-protocol custom data is the body's own keys, so a violation names the key alone.
        model.toV15 ? '' : 'customData',
      );
      found.push(...customData.violations);
      violations.push(...found.map((v) => ({ ...v, field: prefix + v.field })));
      checked.push({ payload, customData: customData.data });
    });
    if (violations.length > 0) throw invalid(violations);

    // Identity can still refuse (impersonation): decide it for every item before any visit is touched.
    const prepared = checked.map((item, index) => ({
      ...item,
      identity: renamingFields(
        (field) => itemPrefix(index) + (model.wireName?.(field) ?? field),
        () => resolveIdentity(item.payload as IdentityFields, context.credential),
      ),
    }));
    const events: CanonicalEvent[] = [];
    const answers: EventAnswer[] = [];
    let cookieVisitor: string | undefined;
    for (const { payload, customData, identity } of prepared) {
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
      const event: CanonicalEvent = {
        id: newEventId(context.receivedAt.getTime()),
        org: context.org,
        category: model.category,
        eventValue: null,
        eventTime: null,
        sentTime: null,
        receivedTime: context.receivedAt,
        derivedTime: context.receivedAt,
        language: optionalString(payload, 'language'),
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
        customData,
        ...model.fields(payload, context.credential),
      };
      events.push(event);
      answers.push({
        ...(kind === 'search' && { searchEventUid: event.id }),
        visitId,
        visitorId: visitor.visitorId,
        clientId: visitor.clientId,
      });
    }
    await this.writer.submit(events);
    return { answers, cookieVisitor };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Runs a check that throws, naming its violations' fields as the body spells them (and by batch item). */
function renamingFields<T>(rename: (field: string) => string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof OpenUAError && error.violations) {
      throw new OpenUAError(
        error.code,
        error.message,
        error.violations.map((v) => ({ ...v, field: rename(v.field) })),
      );
    }
    throw error;
  }
}
