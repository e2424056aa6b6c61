import { Command, InvalidArgumentError } from 'commander';
import { isPrivilege, PRIVILEGES, type Privilege } from '../auth/privileges.ts';
import { ConfigError, loadDotEnv, readConfig } from '../server/config.ts';
import { OpenUAError } from '../server/errors.ts';
import { type AdminClient, openAdmin } from './admin-client.ts';
import { serve } from './serve.ts';

const privilegeList = (value: string): Privilege[] => {
  const list = value.split(',').map((p) => p.trim());
  const wrong = list.filter((p) => !isPrivilege(p));
  if (wrong.length > 0)
    throw new InvalidArgumentError(`unknown privilege ${wrong.join(', ')}; use ${PRIVILEGES.join(', ')}`);
  return list as Privilege[];
};

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
    .description('run the server (configuration from the environment and ./.env; see README)')
    .action(async () => {
      await serve(readConfig());
    });

  const serverOption = [
    '--server <url>',
    'administer a running server over HTTP (needs OPENUA_MASTER_KEY)',
  ] as const;

  const org = cli.command('org').description('organizations');
  org
    .command('create <id>')
    .option('--name <name>', 'display name')
    .option(...serverOption)
    .action((id: string, o) => withAdmin(o, (a) => a.createOrg(id, o.name)));
  org
    .command('list')
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listOrgs()));

  const key = cli.command('key').description('API keys (the secret is shown once, at creation)');
  key
    .command('create')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--privileges <list>', `comma-separated: ${PRIVILEGES.join(', ')}`, privilegeList)
    .option('--org <org>', 'organization', 'default')
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.createKey(o.org, o.name, o.privileges)));
  key
    .command('list')
    .option('--org <org>', 'organization', 'default')
    .option(...serverOption)
    .action((o) => withAdmin(o, (a) => a.listKeys(o.org)));
  key
    .command('revoke <id>')
    .option('--org <org>', 'organization', 'default')
    .option(...serverOption)
    .action((id: string, o) => withAdmin(o, (a) => a.revokeKey(o.org, id)));

  const token = cli.command('token').description('search tokens (JWTs for browsers)');
  token
    .command('sign')
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
  return cli;
}

export async function main(argv = process.argv): Promise<void> {
  loadDotEnv();
  try {
    await program().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof OpenUAError) {
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
