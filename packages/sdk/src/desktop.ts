import {
  type ChannelClient,
  type ChannelOptions,
  createChannelClient,
  type KpiEventFields,
} from './channel.ts';
import { newId } from './ids.ts';

/**
 * Where a desktop's events happen: the conversation (as given to initLogAnalytics), the session and the
 * agent (participant) at this desktop. `correlationId` ties the events to the initLogAnalytics call that
 * made the conversation; without one, the desktop's events share one of their own.
 */
export interface DesktopPlace {
  conversationId: string;
  providerSessionId?: string;
  participantId?: string;
  clientSessionId?: string;
  correlationId?: string;
}

/** A desktop on a channel client (`channel`), or on one of its own (the channel client's options). */
export type DesktopOptions = DesktopPlace & ({ channel: ChannelClient } | ChannelOptions);

/** A moment's method: its event's fields are optional, but for those `Needed` names. */
type Moment<Needed extends keyof KpiEventFields = never> = (
  ...fields: [Needed] extends [never]
    ? [fields?: KpiEventFields]
    : [fields: KpiEventFields & { [Field in Needed]-?: NonNullable<KpiEventFields[Field]> }]
) => Promise<string>;

export interface Desktop {
  /** The incoming-conversation notification is shown to the agent. */
  notificationReceived: Moment;
  notificationAccepted: Moment;
  /** The agent declined the notification. */
  notificationRejected: Moment;
  /** The notification's display timer ran out. */
  notificationTimedOut: Moment;
  sessionStarted: Moment;
  /** This session gained the focus (after the SessionFocusOut of the session switched away from). */
  sessionFocusIn: Moment;
  /** The agent switched away from this session. */
  sessionFocusOut: Moment;
  /** The session closed; `kpiEventReason: 'Transfer'` when the conversation was transferred. */
  sessionClosed: Moment;
  /** The agent's presence changed (`oldPresence`, when there was one, to `newPresence`). */
  presenceChanged: Moment<'newPresence'>;
  tabOpened: Moment<'tabId'>;
  tabClosed: Moment<'tabId'>;
  knowledgeArticleViewed: Moment<'knowledgeArticleId'>;
  /** The channel client the events go through. */
  readonly channel: ChannelClient;
}

/**
 * Agent-desktop instrumentation: one call per moment, each logging the first-party KPI event the
 * framework's desktop logs for it, under the framework's own name (its later build's; the rest are
 * OpenUA's first-party names, src/model/first-party-kpi-events.ts), so the KPI catalogue counts them.
 * Each resolves as `logAnalyticsEvent` does, and the event carries the time of the call.
 */
export function createDesktop(options: DesktopOptions): Desktop {
  const { conversationId, providerSessionId, participantId, clientSessionId } = options;
  const channel = 'channel' in options ? options.channel : createChannelClient(options);
  const correlationId = options.correlationId ?? newId();
  const place = { conversationId, providerSessionId, participantId, clientSessionId };
  const moment =
    (kpiEventName: string) =>
    (fields?: KpiEventFields): Promise<string> =>
      channel.logAnalyticsEvent(
        { ...place, events: [{ ...fields, kpiEventName }] },
        kpiEventName,
        correlationId,
      );
  return {
    notificationReceived: moment('NotificationReceived'),
    notificationAccepted: moment('NotificationAccepted'),
    notificationRejected: moment('NotificationRejected'),
    notificationTimedOut: moment('NotificationTimedOut'),
    sessionStarted: moment('SessionStarted'),
    sessionFocusIn: moment('SessionFocusIn'),
    sessionFocusOut: moment('SessionFocusOut'),
    sessionClosed: moment('SessionClosed'),
    presenceChanged: moment('PresenceChanged'),
    tabOpened: moment('TabOpened'),
    tabClosed: moment('TabClosed'),
    knowledgeArticleViewed: moment('KnowledgeArticleViewed'),
    channel,
  };
}
