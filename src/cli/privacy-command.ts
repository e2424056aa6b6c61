import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { type Config, readConfig } from '../core/config.ts';
import { invalid, OpenUAError } from '../core/errors.ts';
import { compileCheck } from '../core/validation.ts';
import { cliActor } from '../privacy/audit-log.ts';
import { type ErasureMode, publicErasure } from '../privacy/erasures.ts';
import { IDENTIFIER_KINDS, type IdentifierKind, SubjectBody, subjectOf } from '../privacy/identifiers.ts';
import { exportedRows, personExport } from '../privacy/person-export.ts';
import type { Services } from '../startup/services.ts';
import { openStorage } from '../storage/open-storage.ts';
import { StoreBusyError } from '../storage/storage.ts';
import { callServer } from './admin-client.ts';
import { commandServices } from './command-services.ts';
import { storeProblem } from './start-errors.ts';

type Job = ReturnType<typeof publicErasure>;

/** What the privacy commands need, whether they open the store themselves or ask a running server. */
interface PrivacyClient {
  erase(org: string, body: Record<string, string>): Promise<Job>;
  erasure(org: string, id: string): Promise<Job>;
  exportPerson(org: string, body: Record<string, string>): Promise<unknown>;
  close(): Promise<void>;
}

/** On the store directly (no server holds it): the job runs in this process. */
class LocalPrivacy implements PrivacyClient {
  constructor(private readonly services: Services) {
    services.erasures.start();
  }
  async erase(org: string, body: Record<string, string>) {
    await this.services.organizations.require(org);
    const { mode, ...named } = body;
    const subject = subjectOf(checked(named));
    return publicErasure(
      await this.services.erasures.request(org, subject, (mode ?? 'anonymise') as ErasureMode, cliActor()),
    );
  }
  async erasure(org: string, id: string) {
    return publicErasure(await this.services.erasures.get(org, id));
  }
  async exportPerson(org: string, body: Record<string, string>) {
    await this.services.organizations.require(org);
    const subject = subjectOf(checked(body));
    const document = await personExport(this.services, org, subject);
    await this.services.audit.record({
      org,
      actor: cliActor(),
      action: 'person-export',
      subject,
      rows: exportedRows(document),
    });
    return document;
  }
  async close() {
    // The job runs here: the command ends once it has.
    await this.services.erasures.idle();
    await this.services.close();
  }
}

/** Over HTTP with the master key, to a running server. */
class RemotePrivacy implements PrivacyClient {
  constructor(
    private readonly baseUrl: string,
    private readonly masterKey: string,
  ) {}
  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return callServer<T>(this.baseUrl, this.masterKey, method, path, body);
  }
  erase(org: string, body: Record<string, string>) {
    return this.call<Job>('POST', `/api/v1/privacy/erasures?org=${encodeURIComponent(org)}`, body);
  }
  erasure(org: string, id: string) {
    return this.call<Job>(
      'GET',
      `/api/v1/privacy/erasures/${encodeURIComponent(id)}?org=${encodeURIComponent(org)}`,
    );
  }
  exportPerson(org: string, body: Record<string, string>) {
    return this.call('POST', `/api/v1/privacy/exports?org=${encodeURIComponent(org)}`, body);
  }
  async close() {}
}

function checked(body: Record<string, string>): SubjectBody {
  const violations = compileCheck(SubjectBody)(body);
  if (violations.length > 0) throw invalid(violations);
  return body as SubjectBody;
}

/**
 * The store itself when it is free. A DuckDB store a server holds, and a ClickHouse store always, go through a
 * server over HTTP: a server's ingest log (the events it acknowledged and has not loaded yet) is its own, and only
 * it can load and delete it.
 */
async function openPrivacy(config: Config, serverUrl: string | undefined): Promise<PrivacyClient> {
  const url = serverUrl ?? `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  const remote = (why?: string) => {
    if (!config.masterKey) {
      throw new OpenUAError(
        'UNAVAILABLE',
        `${why ? `${why}; ` : ''}asking ${url} over HTTP needs OPENUA_MASTER_KEY. Set it (for this command and the server), or stop the server and run the command again.`,
      );
    }
    return new RemotePrivacy(url, config.masterKey);
  };
  if (serverUrl) return remote();
  if (config.storage.clickhouse)
    return remote('a ClickHouse store is served by its servers, which hold the ingest logs');
  const storage = await openStorage(config.storage).catch((error: unknown) => {
    if (error instanceof StoreBusyError) return undefined;
    throw storeProblem(error, config) ?? error;
  });
  if (!storage) return remote(`the data directory ${config.dataDir} is in use by a running server`);
  const services = await commandServices(config, storage).catch(async (error: unknown) => {
    await storage.close().catch(() => undefined);
    throw storeProblem(error, config) ?? error;
  });
  return new LocalPrivacy(services);
}

const OPTION_OF: Record<IdentifierKind, string> = {
  username: '--username <name>',
  clientId: '--client-id <id>',
  visitorId: '--visitor-id <id>',
  conversationId: '--conversation-id <id>',
  participantId: '--participant-id <id>',
};

/** The identifier options given, as the API's body (exactly one is checked by the API's own rule). */
const subjectBody = (options: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(
    IDENTIFIER_KINDS.flatMap((kind) =>
      typeof options[kind] === 'string' ? [[kind, options[kind] as string]] : [],
    ),
  );

const withIdentifiers = (command: Command) => {
  for (const kind of IDENTIFIER_KINDS) command.option(OPTION_OF[kind], `the person's ${kind}`);
  return command;
};

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));

const serverOption = ['--server <url>', 'ask a running server over HTTP (needs OPENUA_MASTER_KEY)'] as const;
const orgOption = ['--org <org>', 'organization', 'default'] as const;

const mode = (value: string): ErasureMode => {
  if (value !== 'anonymise' && value !== 'delete') throw new InvalidArgumentError('anonymise or delete');
  return value;
};

/** Polls a job until it ends, with a spinner on stderr when it is a terminal. */
async function waitFor(client: PrivacyClient, org: string, job: Job): Promise<Job> {
  const frames = ['|', '/', '-', '\\'];
  const tty = process.stderr.isTTY;
  let current = job;
  for (let i = 0; current.state === 'queued' || current.state === 'running'; i++) {
    if (tty)
      process.stderr.write(`\r${frames[i % frames.length]} erasure ${current.id}: ${current.state}   `);
    await sleep(Math.min(50 * 2 ** i, 1000));
    current = await client.erasure(org, current.id);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  return current;
}

async function withPrivacy(options: { server?: string }, work: (client: PrivacyClient) => Promise<unknown>) {
  const client = await openPrivacy(readConfig(), options.server);
  try {
    print(await work(client));
  } finally {
    await client.close();
  }
}

/** `openua privacy …`, as the command list registers it (main.ts). */
export function privacyCommand(): Command {
  const privacy = new Command('privacy').description("a person's erasure and export");
  withIdentifiers(
    privacy
      .command('erase')
      .description(
        "erase a person's data named by exactly one identifier: waits for the job and prints its report (docs/api/privacy.md)",
      ),
  )
    .option('--mode <mode>', 'anonymise (figures stay) or delete (events go)', mode, 'anonymise')
    .option(
      '--no-wait',
      'print the queued job at once (a server runs it; locally, the command still ends with it)',
    )
    .option(...orgOption)
    .option(...serverOption)
    .action((o) =>
      withPrivacy(o, async (client) => {
        const job = await client.erase(o.org, { ...subjectBody(o), mode: o.mode });
        const done = o.wait ? await waitFor(client, o.org, job) : job;
        if (done.state === 'failed') process.exitCode = 1;
        return done;
      }),
    );
  privacy
    .command('erasure <id>')
    .description("an erasure's state, and what it found and removed")
    .option(...orgOption)
    .option(...serverOption)
    .action((id: string, o) => withPrivacy(o, (client) => client.erasure(o.org, id)));
  withIdentifiers(
    privacy
      .command('export')
      .description("every event, record and rejected payload that holds a person's identifier, as JSON"),
  )
    .option('--out <file>', 'write the document there (default: standard output)')
    .option(...orgOption)
    .option(...serverOption)
    .action(async (o) => {
      const client = await openPrivacy(readConfig(), o.server);
      try {
        const document = await client.exportPerson(o.org, subjectBody(o));
        const text = JSON.stringify(document, null, 2);
        if (o.out) {
          await writeFile(o.out, `${text}\n`, { mode: 0o600 });
          process.stderr.write(`written to ${o.out}\n`);
        } else console.log(text);
      } finally {
        await client.close();
      }
    });
  return privacy;
}
