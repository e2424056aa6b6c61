import type { Violation } from '../core/errors.ts';
import { FIRST_PARTY_KPI_EVENTS } from '../model/first-party-kpi-events.ts';
import type { Organizations } from '../orgs/organizations.ts';
import { type ChannelRecord, KPI_DEFINITIONS, kpiEventTypeOf } from './entity-sets.ts';
import type { ChannelRecords } from './records.ts';

/** The flag on a KPI event accepted without an active definition (organization setting `flag`). */
const UNKNOWN_KPI_FLAG = 'unknownKpiEvent';

interface KpiResolution {
  /** The active definition's id, or null when the event is accepted flagged. */
  definitionId: string | null;
  flag: string | null;
}

/**
 * KPI event definitions: the first-party set (OpenUA's names and the framework's) in every organization, and
 * whether a name may be logged.
 */
export class KpiDefinitions {
  constructor(
    private readonly records: ChannelRecords,
    private readonly organizations: Organizations,
  ) {}

  /**
   * Adds the first-party definitions an organization lacks, at every start: a store made before a name was
   * known gains it. Ones an admin changed are left as they are, and none is ever renamed. Answers how many
   * definitions it wrote.
   *
   * It also gives every definition the event type its origin gives it (System for first-party ones, Custom
   * for the others): a store made while `msdyn_eventtype` was free text has no code in its rows (its old
   * text column is left as it was, unread). The rows so brought up to date are written as any update is
   * (versionnumber and modifiedon move), through the storage contract, so this holds on every engine.
   */
  async seed(org: string): Promise<number> {
    const definitions = await this.records.where(KPI_DEFINITIONS, org, {});
    const existing = new Set(definitions.map((d) => d.name));
    const recoded = definitions
      .filter((d) => d.eventTypeCode !== kpiEventTypeOf(d.firstParty))
      .map((d) => ({
        set: KPI_DEFINITIONS,
        record: this.records.merge(
          KPI_DEFINITIONS,
          org,
          { values: { eventTypeCode: kpiEventTypeOf(d.firstParty) }, customData: {} },
          d,
        ).record,
      }));
    const missing = FIRST_PARTY_KPI_EVENTS.filter((d) => !existing.has(d.name)).map((d) => ({
      set: KPI_DEFINITIONS,
      record: this.records.merge(KPI_DEFINITIONS, org, {
        values: {
          name: d.name,
          displayName: d.displayName,
          description: d.description,
          firstParty: true,
          eventTypeCode: kpiEventTypeOf(true),
        },
        customData: {},
      }).record,
    }));
    await this.records.commit([...recoded, ...missing]);
    return recoded.length + missing.length;
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
