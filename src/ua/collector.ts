import type { Credential } from '../auth/credential.ts';
import type { CanonicalEvent } from '../ingest/canonical-event.ts';
import { newEventId } from '../ingest/event-id.ts';
import type { GroupCommit } from '../ingest/group-commit.ts';
import { invalid } from '../server/errors.ts';
import { compileCheck } from '../server/validation.ts';
import { normaliseCustomData } from './custom-data.ts';
import { type IdentityFields, resolveIdentity } from './identity.ts';
import { CustomEventSchema } from './schemas.ts';
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

const checkCustom = compileCheck(CustomEventSchema);

type Payload = Record<string, unknown>;
const optionalString = (payload: Payload, field: string) => (payload[field] as string | undefined) ?? null;

/**
 * The UA Write API's path from a parsed body to a committed canonical event: validate every rule,
 * apply the identity rules, normalise customData, place the event in its visit, and wait for the commit.
 */
export class UaCollector {
  constructor(
    private readonly visits: VisitTracker,
    private readonly writer: GroupCommit,
  ) {}

  async custom(payload: Payload, context: UaRequestContext): Promise<VisitAnswer> {
    const violations = checkCustom(payload);
    const customData =
      payload.customData && typeof payload.customData === 'object' && !Array.isArray(payload.customData)
        ? normaliseCustomData(payload.customData as Record<string, unknown>)
        : { data: {}, violations: [] };
    violations.push(...customData.violations);
    if (violations.length > 0) throw invalid(violations);

    const identity = resolveIdentity(payload as IdentityFields, context.credential);
    const visitor = resolveVisitor({
      clientId: payload.clientId as string | undefined,
      visitorParam: context.visitorParam,
      cookie: context.cookie,
      prioritizeVisitorParameter: context.prioritizeVisitorParameter,
    });
    const visitId = await this.visits.visit(
      context.org,
      visitor.visitorId,
      context.receivedAt,
      visitor.isNew,
    );
    const event: CanonicalEvent = {
      id: newEventId(context.receivedAt.getTime()),
      org: context.org,
      category: 'custom',
      eventType: payload.eventType as string,
      eventValue: payload.eventValue as string,
      eventTime: null,
      sentTime: null,
      receivedTime: context.receivedAt,
      derivedTime: context.receivedAt,
      language: payload.language as string,
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
      lastSearchQueryUid: optionalString(payload, 'lastSearchQueryUid'),
      userAgent: optionalString(payload, 'userAgent'),
      correlationId: null,
      credentialId: context.credential.id,
      customData: customData.data,
    };
    await this.writer.submit([event]);
    return { visitId, visitorId: visitor.visitorId, clientId: visitor.clientId };
  }
}
