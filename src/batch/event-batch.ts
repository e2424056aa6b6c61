import { type Static, Type } from '@sinclair/typebox';
import type { Credential } from '../auth/credential.ts';
import type { ChannelAnalytics } from '../channel/channel-analytics.ts';
import type { Rule } from '../core/errors.ts';
import { ErrorBodySchema, invalid, OpenUAError, type Violation } from '../core/errors.ts';
import { compileCheck } from '../core/validation.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { Intake } from '../ingest/intake.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import { dedupWindowMs } from '../orgs/organizations.ts';
import type { UaCollector } from '../ua/collector.ts';
import { eventPayload } from '../ua/event-body.ts';
import type { Payload } from '../ua/schemas.ts';

/** What each item of a batch is: a UA event of one of four kinds, or one Channel Analytics KPI event. */
export const BATCH_KINDS = ['custom', 'search', 'click', 'view', 'kpi'] as const;
type BatchKind = (typeof BATCH_KINDS)[number];

/** The envelope: items are checked one by one, so that one bad item never fails the others. */
export const BatchBodySchema = Type.Object(
  {
    sentAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          "When the client sent the batch, by its clock: its events' own times are corrected for its clock's skew",
      }),
    ),
    events: Type.Array(
      Type.Unknown({
        description:
          '`kind` (custom, search, click or view: the body of its UA Write API route; kpi: a logAnalyticsEvent ' +
          'body whose `data.events` holds one KPI event, and an optional `eventId`) and its fields',
      }),
      { minItems: 1, description: 'At most OPENUA_BATCH_MAX_EVENTS (1,000 by default)' },
    ),
  },
  { additionalProperties: false },
);
type BatchBody = Static<typeof BatchBodySchema>;
const checkBody = compileCheck(BatchBodySchema);

const stored = (status: 'accepted' | 'duplicate', description: string) =>
  Type.Object({ status: Type.Literal(status), id: Type.String({ format: 'uuid', description }) });

/** One event's fate: stored, already stored (by its idempotency key), or refused and kept as a rejection. */
export const BatchResultSchema = Type.Union([
  stored('accepted', 'The event stored'),
  stored('duplicate', 'The event stored before with the same idempotency key'),
  Type.Object({
    status: Type.Literal('rejected'),
    errors: Type.Array(ErrorBodySchema.properties.violations.items),
  }),
]);
export type BatchResult = Static<typeof BatchResultSchema>;

export const BATCH_ROUTE = '/api/v1/events/batch';

const YIELD_EVERY = 100;

/** An item's one event, or why it was refused. */
type Prepared = { event: CanonicalEvent } | { errors: Violation[] };

/**
 * `POST /api/v1/events/batch`: many events of any kind in one request, each run through the same checks
 * and normalisation as its single-event route, answered one result per event, in order. Rejected items
 * are kept (Rejections); the others are committed together through the intake, so duplicates are found
 * by their idempotency keys across the batch, other requests and restarts.
 */
export class EventBatch {
  constructor(
    private readonly collector: UaCollector,
    private readonly channel: ChannelAnalytics,
    private readonly intake: Intake,
    private readonly rejections: Rejections,
    private readonly maxEvents: number,
  ) {}

  /** Sheds (503) now when the writer could not take `count` more events. */
  admit(count: number): void {
    this.intake.admit(count);
  }

  async accept(body: unknown, context: IngestContext<Credential>): Promise<BatchResult[]> {
    const violations = checkBody(body);
    const items = (body as { events?: unknown[] } | null)?.events;
    if (Array.isArray(items) && items.length > this.maxEvents) {
      violations.push({
        field: 'events',
        rule: 'maxItems',
        limit: this.maxEvents,
        message: `a batch holds at most ${this.maxEvents} events; send the rest in another`,
        received: items.length,
      });
    }
    if (violations.length > 0) throw invalid(violations);
    this.intake.admit((items as unknown[]).length);
    const { sentAt } = body as BatchBody;
    const batchContext = { ...context, ...(sentAt && { sentAt: new Date(sentAt) }) };

    const prepared: Prepared[] = [];
    for (const [index, item] of (items as unknown[]).entries()) {
      prepared.push(await this.prepare(item, batchContext));
      // Checking items awaits only microtasks: yield now and then, so the loader and the log writer run
      // between the items of a big batch instead of after it.
      if (index % YIELD_EVERY === YIELD_EVERY - 1)
        await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const accepted = prepared.flatMap((p) => ('event' in p ? [p.event] : []));
    const outcomes = await this.intake.submit(context.org, accepted, dedupWindowMs(context.settings));
    let next = 0;
    return prepared.map((p, index) => {
      if ('event' in p) return outcomes[next++] as BatchResult;
      this.rejections.record({
        org: context.org,
        route: BATCH_ROUTE,
        item: index,
        receivedAt: context.receivedAt,
        credentialId: context.credential.id,
        payload: (items as unknown[])[index],
        violations: p.errors,
      });
      return { status: 'rejected', errors: p.errors };
    });
  }

  private async prepare(item: unknown, context: IngestContext<Credential>): Promise<Prepared> {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      return refused('', 'type', 'each event must be a JSON object', Array.isArray(item) ? 'array' : item);
    }
    const { kind, ...rest } = item as Payload;
    if (!BATCH_KINDS.includes(kind as BatchKind)) {
      return {
        errors: [
          {
            field: 'kind',
            rule: kind === undefined ? 'required' : 'enum',
            limit: BATCH_KINDS,
            message: `must be one of: ${BATCH_KINDS.join(', ')}`,
            received: kind,
          },
        ],
      };
    }
    try {
      return kind === 'kpi'
        ? { event: await this.kpiEvent(rest, context) }
        : { event: await this.uaEvent(kind as Exclude<BatchKind, 'kpi'>, rest, context) };
    } catch (error) {
      // Every refusal of one event (a rule, a privilege, an analytics switch) is that item's; anything
      // else (the store failing) is the whole request's.
      if (error instanceof OpenUAError && error.statusCode < 500 && error.statusCode !== 401) {
        return { errors: error.violationList() };
      }
      throw error;
    }
  }

  private async uaEvent(kind: Exclude<BatchKind, 'kpi'>, body: Payload, context: IngestContext<Credential>) {
    // A batch item names its visitor by its clientId: no query parameter or cookie speaks for it.
    const { events } = await this.collector.prepare(kind, [eventPayload(body, kind, false)], {
      ...context,
      prioritizeVisitorParameter: false,
    });
    return events[0] as CanonicalEvent;
  }

  /** A logAnalyticsEvent body (`{data, eventName}`) whose `data.events` holds exactly one KPI event. */
  private async kpiEvent(body: Payload, context: IngestContext<Credential>): Promise<CanonicalEvent> {
    const { eventId, ...call } = body;
    const data = call.data as Payload | undefined;
    if (Array.isArray(data?.events) && data.events.length !== 1) {
      throw invalid([
        {
          field: 'data.events',
          rule: data.events.length === 0 ? 'minItems' : 'maxItems',
          limit: 1,
          message: 'a batch item is one KPI event: send each as its own item',
          received: data.events.length,
        },
      ]);
    }
    if (
      eventId !== undefined &&
      (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > 128)
    ) {
      throw invalid([
        {
          field: 'eventId',
          rule: 'type',
          limit: '1-128 characters',
          message: 'must be a string of 1 to 128 characters',
          received: eventId,
        },
      ]);
    }
    // The item's eventId is the key given beside the call, as a header is beside a body; the time bounds hold
    // for every batch item.
    const keyed = { ...context, idempotencyKey: eventId as string | undefined };
    const { events } = await this.channel.prepareLog(call, keyed, true);
    return events[0] as CanonicalEvent;
  }
}

const refused = (field: string, rule: Rule, message: string, received: unknown): Prepared => ({
  errors: [{ field, rule, message, received }],
});
