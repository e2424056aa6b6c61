import {
  CONVERSATIONS,
  type EntitySet,
  KPI_DEFINITIONS,
  PARTICIPANTS,
  PROVIDERS,
  SESSIONS,
} from '../channel/entity-sets.ts';
import type { ChannelRecords } from '../channel/records.ts';
import type { CanonicalEvent } from '../model/canonical-event.ts';
import type { Storage } from '../storage/storage.ts';
import {
  DEMO_CUSTOM_KPIS,
  DEMO_PROVIDERS,
  DEMO_SWITCHED_OFF_PROVIDERS,
  type GeneratorOptions,
  type GeneratorTally,
  generateEvents,
} from './generator.ts';

/**
 * Demo data in a store: the generator's events and, with `records`, the Channel Analytics records they
 * belong to (providers with analytics on and off, the custom KPIs' definitions, conversations, sessions, their
 * agents), as initLogAnalytics would have made them. Each record comes from the one event that opens it
 * (ConversationQueued, SessionStarted), so a conversation whose events fall in two batches is still written
 * once. Records are merged and committed by ChannelRecords, as the JS and admin APIs do; events go to
 * `Storage.appendEvents`, the call the group commit loads the ingest log into the store with: one commit of
 * records and one append of events per batch, without the ingest log (which makes a server's acknowledgement
 * durable; here the command's end is the acknowledgement).
 */
export async function writeDemo(
  storage: Storage,
  records: ChannelRecords | undefined,
  options: GeneratorOptions,
  tally?: GeneratorTally,
  onBatch?: (written: number) => void,
): Promise<number> {
  let written = 0;
  if (records) {
    const provider = ({ id, name }: { id: string; name: string }, enableAnalytics: boolean) => {
      const { record } = records.merge(PROVIDERS, options.org, {
        values: { name, label: name, enableAnalytics },
        customData: {},
      });
      return { set: PROVIDERS, record: { ...record, id } };
    };
    await records.commit([
      ...DEMO_PROVIDERS.map((p) => provider(p, true)),
      ...DEMO_SWITCHED_OFF_PROVIDERS.map((p) => provider(p, false)),
    ]);
    for (const definition of DEMO_CUSTOM_KPIS) {
      if (!(await records.findNamed(KPI_DEFINITIONS, options.org, definition.name)))
        await records.create(KPI_DEFINITIONS, options.org, { ...definition }, 'fields');
    }
  }
  for (const batch of generateEvents(options, tally)) {
    if (records) {
      await records.commit(
        recordsOf(batch).map(({ set, values }) => ({
          set,
          record: records.merge(set, options.org, { values, customData: {} }).record,
        })),
      );
    }
    await storage.appendEvents(batch);
    written += batch.length;
    onBatch?.(written);
  }
  return written;
}

/** The records the events of a batch open, as initLogAnalytics's fields. */
export function recordsOf(
  events: readonly CanonicalEvent[],
): { set: EntitySet; values: Record<string, unknown> }[] {
  const out: { set: EntitySet; values: Record<string, unknown> }[] = [];
  for (const e of events) {
    if (e.eventType === 'ConversationQueued') {
      out.push({
        set: CONVERSATIONS,
        values: {
          conversationId: e.conversationId,
          channel: e.channel,
          providerId: e.providerId,
          conversationTimestamp: e.derivedTime,
        },
      });
    } else if (e.eventType === 'SessionStarted') {
      const place = { conversationId: e.conversationId, providerSessionId: e.providerSessionId };
      out.push({
        set: SESSIONS,
        values: {
          ...place,
          channel: e.channel,
          queueId: e.queueName,
          queueName: e.queueName,
          createdTimestamp: e.derivedTime,
          agentAssignedTimestamp: e.derivedTime,
        },
      });
      out.push({
        set: PARTICIPANTS,
        values: { ...place, participantId: e.participantId, type: 'Agent', addedTimestamp: e.derivedTime },
      });
    }
  }
  return out;
}
