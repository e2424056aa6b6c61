import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  eventually,
  type Receiver,
  type ShownAlert,
  type ShownRule,
  startReceiver,
} from '../helpers/alerts.ts';
import { openuaJson as cliJson, openua } from '../helpers/cli.ts';
import { newMasterKey, removeDir, type ServerProcess, spawnServer, tempDir } from '../helpers/server.ts';

/** `openua alert-rule …` and `openua alert list`, on a data directory and over HTTP with --server. */

type Rule = ShownRule & { webhookSecret: string };
type AlertList = { count: number; alerts: ShownAlert[] };

const openuaJson = <T = Rule>(args: string[], env: Record<string, string>) => cliJson<T>(args, env);

const ruleArgs = (name: string, url: string) => [
  'alert-rule',
  'create',
  name,
  '--measure',
  'count',
  '--filters',
  '[{"field":"eventType","op":"eq","value":"checkout"}]',
  '--comparison',
  'ge',
  '--threshold',
  '0',
  '--window-minutes',
  '5',
  '--webhook-url',
  url,
];

describe('openua alert-rule and alert on a data directory no server holds', () => {
  const dataDir = tempDir('openua-alerts-cli-');
  const env = { OPENUA_DATA_DIR: dataDir };
  after(() => removeDir(dataDir));

  it('create prints the rule with its secret; list prints it without; update and delete change it', async () => {
    const rule = await openuaJson(ruleArgs('checkout watch', 'https://hooks.example.com/a'), env);
    assert.equal(rule.name, 'checkout watch');
    assert.equal(rule.measure, 'count');
    assert.deepEqual(rule.filters, [{ field: 'eventType', op: 'eq', value: 'checkout' }]);
    assert.equal(rule.threshold, 0);
    assert.match(rule.webhookSecret, /^whsec_/);

    const anomaly = await openuaJson(
      [
        'alert-rule',
        'create',
        'volume',
        '--measure',
        'distinctVisits',
        '--comparison',
        'anomaly',
        '--deviations',
        '4',
        '--window-minutes',
        '60',
        '--webhook-url',
        'https://hooks.example.com/b',
        '--disabled',
      ],
      env,
    );
    assert.equal(anomaly.deviations, 4);
    assert.equal(anomaly.enabled, false);

    const list = await openuaJson<Rule[]>(['alert-rule', 'list'], env);
    assert.deepEqual(
      list.map((r) => r.name),
      ['checkout watch', 'volume'],
    );
    assert.ok(list.every((r) => !('webhookSecret' in r)));

    const updated = await openuaJson(
      ['alert-rule', 'update', 'checkout watch', '--threshold', '7', '--no-enabled'],
      env,
    );
    assert.equal(updated.threshold, 7);
    assert.equal(updated.enabled, false);
    const measureJson = await openuaJson(
      ['alert-rule', 'update', 'checkout watch', '--measure', '{"fn":"uniq","field":"clientId"}'],
      env,
    );
    assert.deepEqual(measureJson.measure, { fn: 'uniq', field: 'clientId' });

    assert.deepEqual(await openuaJson(['alert-rule', 'delete', 'volume'], env), { deleted: 'volume' });
    assert.deepEqual(
      (await openuaJson<Rule[]>(['alert-rule', 'list'], env)).map((r) => r.name),
      ['checkout watch'],
    );
    assert.deepEqual(await openuaJson(['alert', 'list'], env), { count: 0, alerts: [] });
  });

  it('an invalid rule fails, naming each field', async () => {
    const run = await openua(
      [
        'alert-rule',
        'create',
        'bad',
        '--measure',
        'sales',
        '--comparison',
        'gt',
        '--window-minutes',
        '0',
        '--webhook-url',
        'ftp://x',
      ],
      env,
    );
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /measure: .*\(received "sales"\)/);
    assert.match(run.stderr, /threshold: is required/);
    assert.match(run.stderr, /windowMinutes: must be ≥ 1 \(received 0\)/);
    assert.match(run.stderr, /webhookUrl: .*\(received "ftp:\/\/x"\)/);
  });
});

describe('openua alert-rule and alert with --server', () => {
  const dataDir = tempDir('openua-alerts-cli-server-');
  const masterKey = newMasterKey();
  let server: ServerProcess | undefined;
  let receiver: Receiver | undefined;
  after(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await receiver?.close();
    removeDir(dataDir);
  });

  it('creates and lists rules over HTTP; the rule fires; alert list shows it, then locally after the server stops', async () => {
    receiver = await startReceiver();
    server = await spawnServer(dataDir, masterKey, { OPENUA_ALERT_INTERVAL_SECONDS: '1' });
    const env = { OPENUA_MASTER_KEY: masterKey, OPENUA_DATA_DIR: dataDir };
    const remote = ['--server', server.url];
    // count ≥ 0 holds at once: the rule fires at its first evaluation.
    const rule = await openuaJson([...ruleArgs('always', receiver.url), ...remote], env);
    assert.match(rule.webhookSecret, /^whsec_/);
    const list = await openuaJson<Rule[]>(['alert-rule', 'list', ...remote], env);
    assert.deepEqual(
      list.map((r) => r.id),
      [rule.id],
    );
    const alerts = await eventually(async () => {
      const answer = await openuaJson<AlertList>(['alert', 'list', '--rule', rule.id, ...remote], env);
      return answer.alerts[0]?.delivery?.state === 'delivered' ? answer : undefined;
    }, 'the alert');
    assert.equal(alerts.count, 1);
    assert.equal(alerts.alerts[0]?.ruleId, rule.id);
    assert.equal(receiver.requests.length, 1);
    const bad = await openua(['alert', 'list', '--status', 'open', ...remote], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /400/);

    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    const local = await openuaJson<AlertList>(['alert', 'list', '--status', 'firing'], {
      OPENUA_DATA_DIR: dataDir,
    });
    assert.equal(local.count, 1);
    assert.equal(local.alerts[0]?.id, alerts.alerts[0]?.id);
    assert.equal(local.alerts[0]?.delivery?.state, 'delivered');
    assert.deepEqual(await openuaJson(['alert-rule', 'delete', 'always'], { OPENUA_DATA_DIR: dataDir }), {
      deleted: 'always',
    });
    const afterDelete = await openuaJson<AlertList>(['alert', 'list'], { OPENUA_DATA_DIR: dataDir });
    assert.equal(afterDelete.alerts[0]?.status, 'resolved', 'deleting the rule resolved its alert');
    assert.equal(afterDelete.alerts[0]?.resolvedReason, 'ruleDeleted');
  });
});
