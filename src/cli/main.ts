import { Command, InvalidArgumentError } from 'commander';
import { isPrivilege, PRIVILEGES, type Privilege } from '../auth/privileges.ts';
import { ConfigError, loadDotEnv, readConfig } from '../core/config.ts';
import { OpenUAError } from '../core/errors.ts';
import { type AdminClient, openAdmin } from './admin-client.ts';
import { auditCommand } from './audit-command.ts';
import { backupCommand, restoreCommand } from './backup-command.ts';
import { runDemo } from './demo.ts';
import { exportCommand } from './export-command.ts';
import { migrateCommand } from './migrate.ts';
import { privacyCommand } from './privacy-command.ts';
import { serve } from './serve.ts';
import { StartError } from './start-errors.ts';

/** A number when it is written as an integer; otherwise the text, for the server to refuse by name. */
const integerOption = (value: string): number | string => (/^-?\d+$/.test(value) ? Number(value) : value);

/** JSON `null`, as an option's parsed value: commander turns a parser's own null into ''. */
const JSON_NULL = Symbol('null');
const fromJson = (value: unknown) => (value === JSON_NULL ? null : value);

/** A retention: `forever` is null; anything else as integerOption, for the server to check. */
const daysOrForever = (value: string): number | string | symbol =>
  value === 'forever' ? JSON_NULL : integerOption(value);

const jsonOption = (value: string): unknown => {
  try {
    return JSON.parse(value) ?? JSON_NULL;
  } catch {
    throw new InvalidArgumentError('must be JSON, such as {"shortAbandonSeconds": 30}');
  }
};

const privilegeList = (value: string): Privilege[] => {
  const list = value.split(',').map((p) => p.trim());
  const wrong = list.filter((p) => !isPrivilege(p));
  if (wrong.length > 0)
    throw new InvalidArgumentError(`unknown privilege ${wrong.join(', ')}; use ${PRIVILEGES.join(', ')}`);
  return list as Privilege[];
};

/** `a,b`: the origins, for the server to check one by one; empty: none. */
const originList = (value: string): string[] =>
  value
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

async function withAdmin(options: { server?: string }, work: (admin: AdminClient) => Promise<unknown>) {
  const admin = await openAdmin(readConfig(), options.server);
  try {
    print(await work(admin));
  } finally {
    await admin.close();
  }
}

export function program(): Command {
  const cli = new Command('openua')
    .description('OpenUA: self-hostable usage analytics compatible with the Coveo UA Write API v15')
    .showHelpAfterError();

  cli
    .command('serve')
    .description(
      'run the server (configuration from the environment and ./.env: docs/operations/configuration.md)',
    )
    .action(async () => {
      await serve(readConfig());
    });

  cli
    .command('demo')
    .description(
      'fill an empty data directory (or a running server, with --url and --key) with a month of demo data: a contact center and a search page',
    )
    .option(
      '--data-dir <dir>',
      'the data directory to fill (default: OPENUA_DATA_DIR); no server may hold it',
    )
    .option('--seed <n>', 'the same seed gives the same events (for the same --end)', wholeNumber, 1)
    .option('--events <n>', 'about how many events', positiveInt, 1_000_000)
    .option('--days <n>', 'the events fall in this many days before the end', positiveInt, 30)
    .option('--end <time>', 'the ISO 8601 time the days end at (default: now)', isoTime)
    .option('--org <org>', 'organization (it must exist)', 'default')
    .option('--url <url>', 'send to the server running there over HTTP instead of writing a data directory')
    .option('--key <key>', 'with --url: a key with analytics:write and admin, or the master key')
    .action(async (o) => {
      await runDemo(readConfig(), o);
    });

  cli.addCommand(migrateCommand());
  cli.addCommand(exportCommand());
  cli.addCommand(privacyCommand());
  cli.addCommand(auditCommand());
  cli.addCommand(backupCommand());
  cli.addCommand(restoreCommand());

  const serverOption = [
    '--server <url>',
    'administer a running server over HTTP (needs OPENUA_MASTER_KEY)',
  ] as const;

  const org = cli.command('org').description('organizations');
  org
    .command('create <id>')
    .description('create an organization (the master key, or a data directory no server holds)')
    .option('--name <name>', 'display name')
    .option(...serverOption)
    .action((id: string, o) => withAdmin(o, (a) => a.createOrg(id, o.name)));
  org
    .command('list')
    .description('list the organizations')
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listOrgs()));

  org
    .command('update <id>')
    .description("change an organization's name and settings; options left out keep their value")
    .option('--name <name>', 'display name')
    .option('--unknown-kpi-events <mode>', 'KPI events with no active definition: refuse or flag')
    .option('--dedup-window-days <days>', 'how long an idempotency key is remembered', integerOption)
    .option('--rejection-retention-days <days>', 'how long rejected events are kept', integerOption)
    .option('--max-event-age-days <days>', 'events further back are rejected', integerOption)
    .option('--max-event-future-minutes <minutes>', 'events further ahead are rejected', integerOption)
    .option(
      '--kpi-defaults <json>',
      'KPI parameters used where a query does not set them, e.g. \'{"shortAbandonSeconds":30}\' (null: none)',
      jsonOption,
    )
    .option(
      '--rate-limits <json>',
      'requests per credential, e.g. \'{"writePerSecond":500,"readPerSecond":20,"burst":10}\' (null: the defaults)',
      jsonOption,
    )
    .option(
      '--allowed-origins <list>',
      'comma-separated origins whose pages may read the admin, query and OData answers (CORS), e.g. https://dash.example.com ("": none)',
      originList,
    )
    .option(
      '--event-retention-days <days>',
      'events but KPI events are kept this many days, or forever',
      daysOrForever,
    )
    .option(
      '--kpi-event-retention-days <days>',
      'KPI events are kept this many days, or forever',
      daysOrForever,
    )
    .option(
      '--record-retention-days <days>',
      'conversation, session and participant records are kept this many days after they last changed, or forever',
      daysOrForever,
    )
    .option(...serverOption)
    .action((id: string, o) =>
      withAdmin(o, (a) =>
        a.updateOrg(
          id,
          defined({
            name: o.name,
            unknownKpiEvents: o.unknownKpiEvents,
            dedupWindowDays: o.dedupWindowDays,
            rejectionRetentionDays: o.rejectionRetentionDays,
            maxEventAgeDays: o.maxEventAgeDays,
            maxEventFutureMinutes: o.maxEventFutureMinutes,
            kpiDefaults: fromJson(o.kpiDefaults),
            rateLimits: fromJson(o.rateLimits),
            allowedOrigins: o.allowedOrigins,
            eventRetentionDays: fromJson(o.eventRetentionDays),
            kpiEventRetentionDays: fromJson(o.kpiEventRetentionDays),
            recordRetentionDays: fromJson(o.recordRetentionDays),
          }),
        ),
      ),
    );

  const key = cli.command('key').description('API keys (the secret is shown once, at creation)');
  key
    .command('create')
    .description('create an API key and print its secret, once')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--privileges <list>', `comma-separated: ${PRIVILEGES.join(', ')}`, privilegeList)
    .option('--org <org>', 'organization', 'default')
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.createKey(o.org, o.name, o.privileges)));
  key
    .command('list')
    .description("list an organization's API keys (never their secrets)")
    .option('--org <org>', 'organization', 'default')
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listKeys(o.org)));
  key
    .command('revoke <id>')
    .description('revoke an API key: it is refused from then on')
    .option('--org <org>', 'organization', 'default')
    .option(...serverOption)
    .action((id: string, o) => withAdmin(o, (a) => a.revokeKey(o.org, id)));

  const token = cli.command('token').description('search tokens (JWTs for browsers)');
  token
    .command('sign')
    .description("sign a search token for a user, with the organization's secret")
    .requiredOption('--user <id>', 'the user id (usually an e-mail)')
    .option('--org <org>', 'organization', 'default')
    .option('--display-name <name>', 'userDisplayName claim')
    .option('--search-hub <hub>', 'searchHub claim (the default originLevel1)')
    .option('--user-groups <list>', 'comma-separated userGroups claim', (v: string) => v.split(','))
    .option('--expires-in <seconds>', 'lifetime in seconds', positiveInt, 86_400)
    .option(...serverOption)
    .action((o) =>
      withAdmin(o, (a) =>
        a.signToken(o.org, {
          userId: o.user,
          userDisplayName: o.displayName,
          searchHub: o.searchHub,
          userGroups: o.userGroups,
          expiresIn: o.expiresIn,
        }),
      ),
    );
  const orgOption = ['--org <org>', 'organization', 'default'] as const;

  const provider = cli
    .command('provider')
    .description('channel providers (msdyn_ciprovider) and their analytics switch');
  const providerFields = (command: Command) =>
    command
      .option('--label <label>', 'label shown to agents')
      .option('--landing-url <url>', 'the provider widget URL')
      .option('--enable-analytics', 'take analytics from this provider')
      .option('--no-enable-analytics', 'refuse analytics from this provider')
      .option('--active', 'mark the provider active')
      .option('--no-active', 'mark the provider inactive (its analytics are refused)')
      .option('--sort-order <n>', 'sort order', wholeNumber)
      .option('--trusted-domain <domain>', 'trusted domain')
      .option('--custom-params <text>', 'custom parameters')
      .option('--api-version <version>', 'CIF API version')
      .option(...orgOption)
      .option(...serverOption);
  const providerInput = (o: Record<string, unknown>) =>
    defined({
      label: o.label,
      landingUrl: o.landingUrl,
      enableAnalytics: o.enableAnalytics,
      stateCode: o.active === undefined ? undefined : o.active ? 0 : 1,
      sortOrder: o.sortOrder,
      trustedDomain: o.trustedDomain,
      customParams: o.customParams,
      apiVersion: o.apiVersion,
    });
  providerFields(provider.command('create <name>').description('create a channel provider')).action(
    (name: string, o) =>
      withAdmin(o, (a) => a.createRecord('providers', o.org, { name, ...providerInput(o) })),
  );
  provider
    .command('list')
    .description("list an organization's channel providers")
    .option(...orgOption)
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listRecords('providers', o.org)));
  providerFields(
    provider
      .command('update <id-or-name>')
      .description('change a channel provider; options left out keep their value')
      .option('--name <name>', 'new name'),
  ).action((id: string, o) =>
    withAdmin(o, (a) =>
      a.updateRecord('providers', o.org, id, defined({ name: o.name, ...providerInput(o) })),
    ),
  );

  const kpi = cli.command('kpi').description('KPI event definitions (first-party ones are seeded)');
  const kpiFields = (command: Command) =>
    command
      .option('--display-name <name>', 'display name')
      .option('--description <text>', 'what the event means')
      .option(
        '--event-type <type>',
        'System or Custom (any case), or the code 100000000 or 100000001; a definition made here is Custom',
        integerOption,
      )
      .option('--active', 'events with this name may be logged')
      .option('--no-active', 'events with this name are refused')
      .option(...orgOption)
      .option(...serverOption);
  const kpiInput = (o: Record<string, unknown>) =>
    defined({
      displayName: o.displayName,
      description: o.description,
      eventType: o.eventType,
      stateCode: o.active === undefined ? undefined : o.active ? 0 : 1,
    });
  kpiFields(kpi.command('create <name>').description('create a KPI event definition')).action(
    (name: string, o) =>
      withAdmin(o, (a) => a.createRecord('kpi-definitions', o.org, { name, ...kpiInput(o) })),
  );
  kpi
    .command('list')
    .description("list an organization's KPI event definitions, the first-party ones included")
    .option(...orgOption)
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listRecords('kpi-definitions', o.org)));
  kpiFields(
    kpi
      .command('update <id-or-name>')
      .description('change a KPI event definition; options left out keep their value'),
  ).action((id: string, o) => withAdmin(o, (a) => a.updateRecord('kpi-definitions', o.org, id, kpiInput(o))));

  const alertRule = cli
    .command('alert-rule')
    .description('breach alert rules (the webhook secret is shown once, at creation)');
  const alertRuleFields = (command: Command) =>
    command
      .option(
        '--measure <measure>',
        'a query measure: a name (count, a KPI…) or its JSON ({"fn":"avg",…})',
        jsonOrText,
      )
      .option('--filters <json>', 'the scope: a JSON list of query filters', jsonOrText)
      .option('--comparison <op>', 'gt, ge, lt, le, or anomaly')
      .option('--threshold <number>', 'the bound, for gt/ge/lt/le', numberOption)
      .option('--deviations <k>', 'for anomaly: how many spreads from the mean (default 3)', numberOption)
      .option('--window-minutes <n>', 'the window the measure is taken over, ending now', integerOption)
      .option('--webhook-url <url>', 'where alerts are POSTed')
      .option(...orgOption)
      .option(...serverOption);
  const alertRuleInput = (o: Record<string, unknown>) =>
    defined({
      measure: o.measure,
      filters: o.filters,
      comparison: o.comparison,
      threshold: o.threshold,
      deviations: o.deviations,
      windowMinutes: o.windowMinutes,
      webhookUrl: o.webhookUrl,
      enabled: o.enabled,
    });
  alertRuleFields(alertRule.command('create <name>').description('create a breach alert rule'))
    .option('--disabled', 'create it switched off')
    .action((name: string, o) =>
      withAdmin(o, (a) =>
        a.createAlertRule(o.org, { name, ...alertRuleInput(o), ...(o.disabled && { enabled: false }) }),
      ),
    );
  alertRule
    .command('list')
    .description("list an organization's alert rules")
    .option(...orgOption)
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listAlertRules(o.org)));
  alertRuleFields(
    alertRule
      .command('update <id-or-name>')
      .description('change an alert rule; options left out keep their value'),
  )
    .option('--name <name>', 'new name')
    .option('--enabled', 'evaluate it')
    .option('--no-enabled', 'stop evaluating it (a firing alert is resolved)')
    .option('--rotate-secret', 'give it a new webhook secret (shown once)')
    .action((id: string, o) =>
      withAdmin(o, (a) =>
        a.updateAlertRule(
          o.org,
          id,
          defined({ name: o.name, ...alertRuleInput(o), rotateSecret: o.rotateSecret }),
        ),
      ),
    );
  alertRule
    .command('delete <id-or-name>')
    .description('delete an alert rule; its firing alert is resolved')
    .option(...orgOption)
    .option(...serverOption)
    .action((id: string, o) => withAdmin(o, (a) => a.deleteAlertRule(o.org, id)));

  cli
    .command('alert')
    .description('alerts fired by breach rules')
    .command('list')
    .description("list an organization's alerts, newest first")
    .option('--rule <id>', "only this rule's alerts")
    .option('--status <status>', 'firing or resolved')
    .option('--limit <n>', 'at most this many, newest first (default 100)')
    .option(...orgOption)
    .option(...serverOption)
    .action((o) =>
      withAdmin(o, (a) =>
        a.listAlerts(
          o.org,
          defined({ ruleId: o.rule, status: o.status, limit: o.limit }) as Record<string, string>,
        ),
      ),
    );
  return cli;
}

/** JSON when the value reads as JSON (an object, a list, a number…); otherwise the text itself. */
const jsonOrText = (value: string): unknown => {
  try {
    return JSON.parse(value);
  } catch {
    if (/^\s*[[{]/.test(value)) throw new InvalidArgumentError('is not valid JSON');
    return value;
  }
};

/** A number when it is written as one; otherwise the text, for the server to refuse by name. */
const numberOption = (value: string): number | string =>
  value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;

/** The options a command was given, without the ones left out. */
const defined = (values: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));

const isoTime = (value: string) => {
  const time = new Date(value);
  if (!/^\d{4}-\d\d-\d\dT/.test(value) || Number.isNaN(time.getTime()))
    throw new InvalidArgumentError('must be an ISO 8601 time, such as 2026-11-30T00:00:00Z');
  return time;
};

const wholeNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a whole number');
  return n;
};

export async function main(argv = process.argv): Promise<void> {
  loadDotEnv();
  try {
    await program().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof OpenUAError || error instanceof StartError) {
      const violations = error instanceof OpenUAError && error.violations ? error.violations : [];
      console.error(`openua: ${error.message}`);
      for (const v of violations)
        console.error(`  ${v.field}: ${v.message} (received ${JSON.stringify(v.received)})`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}
