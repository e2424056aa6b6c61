import type { Organizations } from '../auth/organizations.ts';
import type { Violation } from '../server/errors.ts';
import { type ChannelRecord, KPI_DEFINITIONS } from './entity-sets.ts';
import type { ChannelRecords } from './records.ts';

/**
 * OpenUA's first-party KPI events: what the framework itself reports about a session. No public document
 * lists Microsoft's exact names (reference §6), so these are OpenUA's, seeded into every organization and
 * documented in the README. The fields each one carries are named in its description.
 */
const FIRST_PARTY_KPI_EVENTS: readonly { name: string; displayName: string; description: string }[] = [
  {
    name: 'NotificationDisplayed',
    displayName: 'Notification displayed',
    description: 'The incoming-conversation notification was shown to the agent.',
  },
  {
    name: 'NotificationResponse',
    displayName: 'Notification response',
    description:
      'The agent answered the notification: notificationResponseAction is Accept, Reject or Timeout.',
  },
  { name: 'SessionStarted', displayName: 'Session started', description: 'The agent session started.' },
  {
    name: 'SessionSwitched',
    displayName: 'Session switched',
    description: 'The agent switched the focused session to this one.',
  },
  {
    name: 'SessionClosed',
    displayName: 'Session closed',
    description:
      'The agent session closed; kpiEventReason Transfer when it closed because the conversation was transferred.',
  },
  {
    name: 'PresenceChanged',
    displayName: 'Presence changed',
    description: "The agent's presence changed from oldPresence to newPresence.",
  },
  {
    name: 'TabOpened',
    displayName: 'Tab opened',
    description: 'A tab (tabId, tabName) opened in the session.',
  },
  {
    name: 'TabClosed',
    displayName: 'Tab closed',
    description: 'A tab (tabId, tabName) closed in the session.',
  },
  {
    name: 'KnowledgeArticleViewed',
    displayName: 'Knowledge article viewed',
    description: 'The agent viewed a knowledge article (knowledgeArticleId, knowledgeArticleName).',
  },
  {
    name: 'EntityRecordOpened',
    displayName: 'Entity record opened',
    description: 'The agent opened a CRM record (entityName, entityRecordId).',
  },
  {
    name: 'ParticipantAdded',
    displayName: 'Participant added',
    description: 'A participant joined the session; kpiEventReason says why (Transfer, Consult…).',
  },
  {
    name: 'ParticipantRemoved',
    displayName: 'Participant removed',
    description: 'A participant left the session; kpiEventReason says why (Transfer, Consult end…).',
  },
  {
    name: 'ConversationQueued',
    displayName: 'Conversation queued',
    description: 'The conversation entered a queue (speed to answer and abandonment start here).',
  },
  {
    name: 'FirstResponseSent',
    displayName: 'First response sent',
    description: "The agent's first message to the customer (first response time ends here).",
  },
  { name: 'HoldStarted', displayName: 'Hold started', description: 'The customer was put on hold.' },
  { name: 'HoldEnded', displayName: 'Hold ended', description: 'The customer came off hold.' },
  { name: 'WrapUpStarted', displayName: 'Wrap-up started', description: 'After-contact work started.' },
  { name: 'WrapUpEnded', displayName: 'Wrap-up ended', description: 'After-contact work ended.' },
  {
    name: 'ConversationEnded',
    displayName: 'Conversation ended',
    description: 'The conversation was disconnected; kpiEventReason says by whom (Customer, Agent, System).',
  },
];

/** The flag on a KPI event accepted without an active definition (organization setting `flag`). */
const UNKNOWN_KPI_FLAG = 'unknownKpiEvent';

interface KpiResolution {
  /** The active definition's id, or null when the event is accepted flagged. */
  definitionId: string | null;
  flag: string | null;
}

/** KPI event definitions: the first-party set in every organization, and whether a name may be logged. */
export class KpiDefinitions {
  constructor(
    private readonly records: ChannelRecords,
    private readonly organizations: Organizations,
  ) {}

  /** Adds the first-party definitions an organization lacks; ones an admin changed are left as they are. */
  async seed(org: string): Promise<number> {
    const existing = new Set((await this.records.where(KPI_DEFINITIONS, org, {})).map((d) => d.name));
    const missing = FIRST_PARTY_KPI_EVENTS.filter((d) => !existing.has(d.name)).map((d) => ({
      set: KPI_DEFINITIONS,
      record: this.records.merge(KPI_DEFINITIONS, org, {
        values: { ...d, eventType: 'FirstParty', firstParty: true },
        customData: {},
      }).record,
    }));
    await this.records.commit(missing);
    return missing.length;
  }

  /**
   * Whether events named `name` may be logged: yes with an active definition; otherwise refused (the
   * violation names the field), or accepted and flagged when the organization says so.
   */
  async resolve(org: string, name: string, field: string): Promise<KpiResolution | Violation> {
    const definition = await this.records.byKey(KPI_DEFINITIONS, org, [name]);
    if (definition && definition.stateCode !== 1) return { definitionId: definition.id, flag: null };
    const settings = await this.organizations.require(org);
    if (settings.unknownKpiEvents === 'flag') return { definitionId: null, flag: UNKNOWN_KPI_FLAG };
    return unknownKpi(name, field, definition);
  }
}

function unknownKpi(name: string, field: string, inactive: ChannelRecord | undefined): Violation {
  return {
    field,
    rule: 'kpiEventDefinition',
    limit: KPI_DEFINITIONS.set,
    message: inactive
      ? `the KPI event definition ${JSON.stringify(name)} is inactive; activate it (statecode 0) to log it`
      : `no KPI event definition is named ${JSON.stringify(name)}; define it first (openua kpi create ` +
        `${name}, or POST /api/v1/kpi-definitions), or set the organization's unknownKpiEvents to "flag"`,
    received: name,
  };
}
