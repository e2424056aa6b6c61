/**
 * The first-party KPI events: what the agent desktop reports by itself, under the names each source uses.
 * Every organization is seeded with a definition of each, and the KPI units count each by its meaning, so
 * a desktop built on either release of the Channel Integration Framework logs to OpenUA unchanged, and a
 * KPI over a mix of the sets gives the figures of the same story told with one.
 *
 * The framework's names and when it fires them come from a public copy of its client source (reference
 * cif-channel-analytics.md §6): its 2019 build and its later build each fire a set of their own.
 */

/** Who fires an event under this name: OpenUA's own set, the framework's 2019 build, its later build. */
export type KpiEventSource = 'openua' | 'cif2019' | 'cifLater';

/** How a notification was answered, as the KPI units read it. */
export type NotificationAction = 'accept' | 'reject' | 'timeout';

export interface FirstPartyKpiEvent {
  name: string;
  displayName: string;
  /** What it means and the fields it carries: the definition's description. */
  description: string;
  sources: readonly KpiEventSource[];
  /**
   * The OpenUA event the KPI units count it as, and the notification response it stands for, when it is
   * a framework name for one of OpenUA's events. Without it an event counts as itself.
   */
  countsAs?: { name: string; action?: NotificationAction };
}

const OPENUA: readonly KpiEventSource[] = ['openua'];

export const FIRST_PARTY_KPI_EVENTS: readonly FirstPartyKpiEvent[] = [
  {
    name: 'NotificationDisplayed',
    displayName: 'Notification displayed',
    description: 'The incoming-conversation notification was shown to the agent.',
    sources: OPENUA,
  },
  {
    name: 'NotificationReceived',
    displayName: 'Notification received',
    description:
      "The framework's name for NotificationDisplayed: it fires as the notification is about to be shown.",
    sources: ['cif2019', 'cifLater'],
    countsAs: { name: 'NotificationDisplayed' },
  },
  {
    name: 'NotificationResponse',
    displayName: 'Notification response',
    description:
      'The agent answered the notification: notificationResponseAction is Accept, Reject or Timeout (the ' +
      "framework's 2019 build sends accepted or rejected).",
    sources: ['openua', 'cif2019'],
  },
  {
    name: 'NotificationAccepted',
    displayName: 'Notification accepted',
    description:
      "The framework's later name for a NotificationResponse that accepted; it carries no notificationResponseAction.",
    sources: ['cifLater'],
    countsAs: { name: 'NotificationResponse', action: 'accept' },
  },
  {
    name: 'NotificationRejected',
    displayName: 'Notification rejected',
    description:
      "The framework's later name for a NotificationResponse that rejected (declined); it carries no notificationResponseAction.",
    sources: ['cifLater'],
    countsAs: { name: 'NotificationResponse', action: 'reject' },
  },
  {
    name: 'NotificationTimedOut',
    displayName: 'Notification timed out',
    description:
      "The framework's name for a NotificationResponse that timed out: the notification's display timer ran out.",
    sources: ['cif2019', 'cifLater'],
    countsAs: { name: 'NotificationResponse', action: 'timeout' },
  },
  {
    name: 'SessionStarted',
    displayName: 'Session started',
    description: 'The agent session started.',
    sources: ['openua', 'cif2019', 'cifLater'],
  },
  {
    name: 'SessionSwitched',
    displayName: 'Session switched',
    description: 'The agent switched the focused session to this one.',
    sources: ['openua', 'cif2019'],
  },
  {
    name: 'SessionFocusIn',
    displayName: 'Session focus in',
    description:
      "The framework's later name for SessionSwitched: this session gained focus. It follows the " +
      'SessionFocusOut of the session switched away from; the pair is one switch.',
    sources: ['cifLater'],
    countsAs: { name: 'SessionSwitched' },
  },
  {
    name: 'SessionFocusOut',
    displayName: 'Session focus out',
    description:
      'The agent switched away from this session (the framework fires it just before the SessionFocusIn of ' +
      'the session switched to, which is where the switch is counted).',
    sources: ['cifLater'],
  },
  {
    name: 'SessionClosed',
    displayName: 'Session closed',
    description:
      'The agent session closed; kpiEventReason Transfer when it closed because the conversation was transferred.',
    sources: ['openua', 'cif2019', 'cifLater'],
  },
  {
    name: 'CifSessionStart',
    displayName: 'Framework session start',
    description:
      "The agent desktop loaded the framework (once per page load, identified by cifSessionId): not a conversation's session.",
    sources: ['cifLater'],
  },
  {
    name: 'CifSessionEnd',
    displayName: 'Framework session end',
    description: 'The agent desktop that loaded the framework was closed or reloaded (cifSessionId).',
    sources: ['cifLater'],
  },
  {
    name: 'PresenceChanged',
    displayName: 'Presence changed',
    description: "The agent's presence changed from oldPresence to newPresence.",
    sources: OPENUA,
  },
  {
    name: 'TabOpened',
    displayName: 'Tab opened',
    description: 'A tab (tabId, tabName) opened in the session.',
    sources: OPENUA,
  },
  {
    name: 'TabClosed',
    displayName: 'Tab closed',
    description: 'A tab (tabId, tabName) closed in the session.',
    sources: OPENUA,
  },
  {
    name: 'KnowledgeArticleViewed',
    displayName: 'Knowledge article viewed',
    description: 'The agent viewed a knowledge article (knowledgeArticleId, knowledgeArticleName).',
    sources: OPENUA,
  },
  {
    name: 'EntityRecordOpened',
    displayName: 'Entity record opened',
    description: 'The agent opened a CRM record (entityName, entityRecordId).',
    sources: OPENUA,
  },
  {
    name: 'ParticipantAdded',
    displayName: 'Participant added',
    description: 'A participant joined the session; kpiEventReason says why (Transfer, Consult…).',
    sources: OPENUA,
  },
  {
    name: 'ParticipantRemoved',
    displayName: 'Participant removed',
    description: 'A participant left the session; kpiEventReason says why (Transfer, Consult end…).',
    sources: OPENUA,
  },
  {
    name: 'ConversationQueued',
    displayName: 'Conversation queued',
    description: 'The conversation entered a queue (speed to answer and abandonment start here).',
    sources: OPENUA,
  },
  {
    name: 'FirstResponseSent',
    displayName: 'First response sent',
    description: "The agent's first message to the customer (first response time ends here).",
    sources: OPENUA,
  },
  {
    name: 'HoldStarted',
    displayName: 'Hold started',
    description: 'The customer was put on hold.',
    sources: OPENUA,
  },
  {
    name: 'HoldEnded',
    displayName: 'Hold ended',
    description: 'The customer came off hold.',
    sources: OPENUA,
  },
  {
    name: 'WrapUpStarted',
    displayName: 'Wrap-up started',
    description: 'After-contact work started.',
    sources: OPENUA,
  },
  {
    name: 'WrapUpEnded',
    displayName: 'Wrap-up ended',
    description: 'After-contact work ended.',
    sources: OPENUA,
  },
  {
    name: 'ConversationEnded',
    displayName: 'Conversation ended',
    description: 'The conversation was disconnected; kpiEventReason says by whom (Customer, Agent, System).',
    sources: OPENUA,
  },
];

/** The framework's names that count as one of OpenUA's events, each with what it counts as. */
export const COUNTED_AS: ReadonlyMap<string, NonNullable<FirstPartyKpiEvent['countsAs']>> = new Map(
  FIRST_PARTY_KPI_EVENTS.flatMap((e) => (e.countsAs ? [[e.name, e.countsAs] as const] : [])),
);
