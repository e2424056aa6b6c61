import {
  CONVERSATIONS,
  type EntitySet,
  PARTICIPANTS,
  PROVIDERS,
  SESSIONS,
} from '../src/channel/entity-sets.ts';
import type { ChannelRecords } from '../src/channel/records.ts';
import type { CanonicalEvent } from '../src/model/canonical-event.ts';
import type { Storage } from '../src/storage/storage.ts';
import { DEMO_PROVIDERS, type GeneratorOptions, type GeneratorTally, generateEvents } from './generator.ts';

/**
 * Demo data in a store: the generator's events and, with `records`, the Channel Analytics records they
 * belong to (providers with analytics on, conversations, sessions, their agents), as initLogAnalytics would
 * have made them. Each record comes from the one event that opens it (ConversationQueued, SessionStarted),
 * so a conversation whose events fall in two batches is still written once. Everything goes through the
 * storage interface in bulk: one transaction of records and one of events per batch.
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
    await records.commit(
      DEMO_PROVIDERS.map(({ id, name }) => {
        const { record } = records.merge(PROVIDERS, options.org, {
          values: { name, label: name, enableAnalytics: true },
          customData: {},
        });
        return { set: PROVIDERS, record: { ...record, id } };
      }),
    );
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
