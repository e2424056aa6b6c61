import { Command } from 'commander';
import { readConfig } from '../core/config.ts';
import { openAdmin } from './admin-client.ts';

interface AuditOptions {
  org: string;
  action?: string;
  from?: string;
  to?: string;
  actor?: string;
  subjectKind?: string;
  subject?: string;
  limit?: string;
  before?: string;
  server?: string;
}

/**
 * `openua audit`, as the command list registers it (main.ts): the audit log, newest first, as `GET /api/v1/audit`
 * answers it. Options are passed as text and checked by the route's own schema, here or by the server, so a
 * refusal names the same field and rule either way.
 */
export function auditCommand(): Command {
  return new Command('audit')
    .description(
      "read an organization's audit log of privacy and admin actions, newest first (on a data directory no server holds, or over HTTP)",
    )
    .option('--org <org>', 'organization', 'default')
    .option('--action <action>', 'only this action (org.create, key.revoke, erasure.request…)')
    .option('--from <time>', 'entries at or after this ISO 8601 time')
    .option('--to <time>', 'entries before this ISO 8601 time')
    .option('--actor <id>', 'only what this actor did (an API key id, master, a CLI user, retention…)')
    .option('--subject-kind <kind>', 'the kind of identifier --subject is: username, clientId, visitorId…')
    .option(
      '--subject <identifier>',
      "only the entries about this person (compared by the organization's keyed hash; needs --subject-kind)",
    )
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)')
    .option('--before <id>', "only entries older than this one: the previous answer's `next`")
    .option('--server <url>', 'ask a running server over HTTP (needs OPENUA_MASTER_KEY)')
    .action(async (o: AuditOptions) => {
      const admin = await openAdmin(readConfig(), o.server);
      try {
        const filters = Object.fromEntries(
          Object.entries({
            action: o.action,
            from: o.from,
            to: o.to,
            actorId: o.actor,
            subjectKind: o.subjectKind,
            subject: o.subject,
            limit: o.limit,
            before: o.before,
          }).filter((entry): entry is [string, string] => entry[1] !== undefined),
        );
        console.log(JSON.stringify(await admin.listAudit(o.org, filters), null, 2));
      } finally {
        await admin.close();
      }
    });
}
