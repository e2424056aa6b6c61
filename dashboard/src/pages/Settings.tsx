import { useState } from 'preact/hooks';
import { ApiError, del, get, patch, post } from '../api.ts';
import { DataTable } from '../components/DataTable.tsx';
import { Empty } from '../components/Empty.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { PageHeader } from '../components/Layout.tsx';
import { Loading } from '../components/Loading.tsx';
import { formatTime } from '../format.ts';
import { useApi } from '../use-api.ts';

interface Dimension {
  name: string;
  displayName: string;
  type: string;
  eventKinds: string[];
  field: string;
  createdAt: string;
}

interface ChannelRecord {
  id: string;
  name: string;
  stateCode?: number;
  [field: string]: unknown;
}

interface AlertRule {
  id: string;
  name: string;
  measure: unknown;
  comparison: string;
  threshold?: number | null;
  windowMinutes: number;
  enabled: boolean;
  lastEvaluation: { at: string; value: number | null; breaching: boolean; error?: string | null } | null;
}

interface ApiKey {
  id: string;
  org: string;
  name: string;
  privileges: string[];
  createdAt: string;
  revokedAt: string | null;
}

/** Runs an edit, then reloads the section; a refusal is shown in the section. */
function useEdit(reload: () => void) {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const run = async (edit: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await edit();
      reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run };
}

function Dimensions({ admin }: { admin: boolean }) {
  const { data, error, loading, reload } = useApi(
    () => get<{ dimensions: Dimension[] }>('/api/v1/dimensions'),
    'dims',
  );
  const edit = useEdit(reload);
  const [name, setName] = useState('');
  const [type, setType] = useState('number');
  return (
    <section class="panel" data-testid="settings-dimensions">
      <h2>Dimensions</h2>
      <p class="muted">
        customData keys declared with a type, so queries can group, filter and average them.
      </p>
      {error && <ErrorBox error={error} retry={reload} />}
      {edit.error !== undefined && <ErrorBox error={edit.error} />}
      {!data && loading && <Loading what="dimensions" />}
      {data &&
        (data.dimensions.length > 0 ? (
          <DataTable
            testId="settings-dimensions-table"
            rows={data.dimensions}
            rowKey={(dimension) => dimension.name}
            columns={[
              { key: 'field', label: 'Field' },
              { key: 'displayName', label: 'Name' },
              { key: 'type', label: 'Type' },
              {
                key: 'eventKinds',
                label: 'Event kinds',
                render: (dimension) =>
                  dimension.eventKinds.length ? dimension.eventKinds.join(', ') : 'all',
              },
              ...(admin
                ? [
                    {
                      key: 'actions',
                      label: '',
                      render: (dimension: Dimension) => (
                        <button
                          type="button"
                          disabled={edit.busy}
                          onClick={() => {
                            if (
                              confirm(
                                `Delete the dimension ${dimension.name}? Its values stay, read as text.`,
                              )
                            ) {
                              edit.run(() => del(`/api/v1/dimensions/${encodeURIComponent(dimension.name)}`));
                            }
                          }}
                        >
                          Delete
                        </button>
                      ),
                    },
                  ]
                : []),
            ]}
          />
        ) : (
          <Empty message="No custom dimensions yet: every customData value is read as text." />
        ))}
      {admin && (
        <form
          class="form-row"
          onSubmit={(event) => {
            event.preventDefault();
            edit.run(async () => {
              await post('/api/v1/dimensions', { name, type });
              setName('');
            });
          }}
        >
          <label>
            customData key
            <input
              required
              value={name}
              onInput={(event) => setName((event.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            Type
            <select value={type} onChange={(event) => setType((event.target as HTMLSelectElement).value)}>
              <option value="text">text</option>
              <option value="number">number</option>
              <option value="boolean">boolean</option>
            </select>
          </label>
          <button type="submit" disabled={edit.busy}>
            Declare
          </button>
        </form>
      )}
    </section>
  );
}

const active = (record: ChannelRecord) => (record.stateCode ?? 0) === 0;

function KpiDefinitions() {
  const { data, error, loading, reload } = useApi(
    () => get<{ items: ChannelRecord[] }>('/api/v1/kpi-definitions'),
    'kpi-definitions',
  );
  const edit = useEdit(reload);
  return (
    <section class="panel" data-testid="settings-kpi-definitions">
      <h2>KPI event definitions</h2>
      <p class="muted">
        The KPI event names Channel Analytics accepts; an inactive one is handled as unknown.
      </p>
      {error && <ErrorBox error={error} retry={reload} />}
      {edit.error !== undefined && <ErrorBox error={edit.error} />}
      {!data && loading && <Loading what="KPI event definitions" />}
      {data &&
        (data.items.length > 0 ? (
          <DataTable
            testId="settings-kpi-definitions-table"
            rows={data.items}
            rowKey={(record) => record.id}
            columns={[
              { key: 'name', label: 'Name' },
              { key: 'displayName', label: 'Display name' },
              {
                key: 'eventType',
                label: 'Type',
                render: (record) => String(record.eventType ?? record.eventTypeCode ?? '—'),
              },
              {
                key: 'firstParty',
                label: 'First party',
                render: (record) => (record.firstParty ? 'yes' : 'no'),
              },
              {
                key: 'stateCode',
                label: 'Active',
                sortValue: (record) => (active(record) ? 1 : 0),
                render: (record) => (
                  <label>
                    <input
                      type="checkbox"
                      checked={active(record)}
                      disabled={edit.busy}
                      aria-label={`${record.name} active`}
                      onChange={() =>
                        edit.run(() =>
                          patch(`/api/v1/kpi-definitions/${encodeURIComponent(record.id)}`, {
                            stateCode: active(record) ? 1 : 0,
                          }),
                        )
                      }
                    />{' '}
                    {active(record) ? 'active' : 'inactive'}
                  </label>
                ),
              },
            ]}
          />
        ) : (
          <Empty message="No KPI event definitions." />
        ))}
    </section>
  );
}

function Providers() {
  const { data, error, loading, reload } = useApi(
    () => get<{ items: ChannelRecord[] }>('/api/v1/providers'),
    'providers',
  );
  const edit = useEdit(reload);
  return (
    <section class="panel" data-testid="settings-providers">
      <h2>Providers</h2>
      <p class="muted">
        CIF providers: Channel Analytics accepts a provider's events only while its analytics switch is on and
        it is active.
      </p>
      {error && <ErrorBox error={error} retry={reload} />}
      {edit.error !== undefined && <ErrorBox error={edit.error} />}
      {!data && loading && <Loading what="providers" />}
      {data &&
        (data.items.length > 0 ? (
          <DataTable
            testId="settings-providers-table"
            rows={data.items}
            rowKey={(record) => record.id}
            columns={[
              { key: 'name', label: 'Name' },
              { key: 'label', label: 'Label' },
              { key: 'id', label: 'Id' },
              {
                key: 'stateCode',
                label: 'State',
                render: (record) => (active(record) ? 'active' : 'inactive'),
              },
              {
                key: 'enableAnalytics',
                label: 'Analytics',
                sortValue: (record) => (record.enableAnalytics ? 1 : 0),
                render: (record) => (
                  <label>
                    <input
                      type="checkbox"
                      data-testid={`provider-analytics-${record.name}`}
                      checked={record.enableAnalytics === true}
                      disabled={edit.busy}
                      onChange={() =>
                        edit.run(() =>
                          patch(`/api/v1/providers/${encodeURIComponent(record.id)}`, {
                            enableAnalytics: record.enableAnalytics !== true,
                          }),
                        )
                      }
                    />{' '}
                    {record.enableAnalytics === true ? 'on' : 'off'}
                  </label>
                ),
              },
            ]}
          />
        ) : (
          <Empty
            message="No providers."
            next="A provider is created with POST /api/v1/providers, or by the CIF when it starts (see docs/api/channel-analytics.md)."
          />
        ))}
    </section>
  );
}

const measureName = (measure: unknown) => (typeof measure === 'string' ? measure : JSON.stringify(measure));

function AlertRules({ admin }: { admin: boolean }) {
  const { data, error, loading, reload } = useApi(
    () => get<{ rules: AlertRule[] }>('/api/v1/alert-rules'),
    'rules',
  );
  const edit = useEdit(reload);
  return (
    <section class="panel" data-testid="settings-alert-rules">
      <h2>Alert rules</h2>
      {error && <ErrorBox error={error} retry={reload} />}
      {edit.error !== undefined && <ErrorBox error={edit.error} />}
      {!data && loading && <Loading what="alert rules" />}
      {data &&
        (data.rules.length > 0 ? (
          <DataTable
            testId="settings-alert-rules-table"
            rows={data.rules}
            rowKey={(rule) => rule.id}
            columns={[
              { key: 'name', label: 'Name' },
              { key: 'measure', label: 'Measure', render: (rule) => measureName(rule.measure) },
              {
                key: 'comparison',
                label: 'Condition',
                render: (rule) =>
                  rule.comparison === 'anomaly' ? 'anomaly' : `${rule.comparison} ${rule.threshold ?? ''}`,
              },
              { key: 'windowMinutes', label: 'Window (min)', numeric: true },
              {
                key: 'lastEvaluation',
                label: 'Last evaluation',
                sortValue: (rule) => rule.lastEvaluation?.at ?? null,
                render: (rule) =>
                  rule.lastEvaluation
                    ? `${formatTime(rule.lastEvaluation.at)}: ${rule.lastEvaluation.error ?? `${rule.lastEvaluation.value ?? '—'}${rule.lastEvaluation.breaching ? ' (breaching)' : ''}`}`
                    : 'not yet',
              },
              {
                key: 'enabled',
                label: 'Enabled',
                sortValue: (rule) => (rule.enabled ? 1 : 0),
                render: (rule) =>
                  admin ? (
                    <label>
                      <input
                        type="checkbox"
                        checked={rule.enabled}
                        disabled={edit.busy}
                        onChange={() =>
                          edit.run(() =>
                            patch(`/api/v1/alert-rules/${encodeURIComponent(rule.id)}`, {
                              enabled: !rule.enabled,
                            }),
                          )
                        }
                      />{' '}
                      {rule.enabled ? 'yes' : 'no'}
                    </label>
                  ) : rule.enabled ? (
                    'yes'
                  ) : (
                    'no'
                  ),
              },
            ]}
          />
        ) : (
          <Empty
            message="No alert rules."
            next="Create one with POST /api/v1/alert-rules (docs/api/alerts.md); breaches then show on Supervisor."
          />
        ))}
    </section>
  );
}

function Keys() {
  const { data, error, loading, reload } = useApi(async () => {
    const { orgs } = await get<{ orgs: { id: string; name: string }[] }>('/api/v1/orgs');
    const keys = await Promise.all(
      orgs.map((org) => get<{ keys: ApiKey[] }>(`/api/v1/orgs/${encodeURIComponent(org.id)}/keys`)),
    );
    return keys.flatMap((answer) => answer.keys);
  }, 'keys');
  const edit = useEdit(reload);
  return (
    <section class="panel" data-testid="settings-keys">
      <h2>API keys</h2>
      <p class="muted">
        Secrets are shown once, when a key is made (CLI: openua keys create); here keys are listed and
        revoked.
      </p>
      {error && <ErrorBox error={error} retry={reload} />}
      {edit.error !== undefined && <ErrorBox error={edit.error} />}
      {!data && loading && <Loading what="API keys" />}
      {data &&
        (data.length > 0 ? (
          <DataTable
            testId="settings-keys-table"
            rows={data}
            rowKey={(key) => `${key.org}/${key.id}`}
            columns={[
              { key: 'name', label: 'Name' },
              { key: 'id', label: 'Id' },
              { key: 'org', label: 'Organization' },
              { key: 'privileges', label: 'Privileges', render: (key) => key.privileges.join(', ') },
              { key: 'createdAt', label: 'Created', render: (key) => formatTime(key.createdAt) },
              {
                key: 'revokedAt',
                label: 'Status',
                render: (key) =>
                  key.revokedAt ? (
                    `revoked ${formatTime(key.revokedAt)}`
                  ) : (
                    <button
                      type="button"
                      disabled={edit.busy}
                      onClick={() => {
                        if (confirm(`Revoke the key ${key.name} (${key.id})? It is refused from then on.`)) {
                          edit.run(() =>
                            del(
                              `/api/v1/orgs/${encodeURIComponent(key.org)}/keys/${encodeURIComponent(key.id)}`,
                            ),
                          );
                        }
                      }}
                    >
                      Revoke
                    </button>
                  ),
              },
            ]}
          />
        ) : (
          <Empty message="No API keys." />
        ))}
    </section>
  );
}

/**
 * The organization's configuration, for admins: whether the credential is one is learnt from `GET /api/v1/orgs`
 * (admin only). A reader sees the dimensions and alert rules, read-only, and a message saying why the rest is not
 * shown.
 */
export function Settings() {
  const { data, error, loading, reload } = useApi(async () => {
    try {
      await get('/api/v1/orgs');
      return true;
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 403) return false;
      throw failure;
    }
  }, 'admin');
  return (
    <>
      <PageHeader title="Settings" />
      {error && <ErrorBox error={error} retry={reload} />}
      {data === undefined && loading && <Loading what="settings" />}
      {data === false && (
        <div class="error-box" role="status" data-testid="settings-not-admin">
          <p>
            <strong>This credential is not an admin.</strong> Settings edits need a key with the{' '}
            <code>admin</code> privilege: sign out and sign in with one. Meanwhile the dimensions and alert
            rules are shown read-only.
          </p>
        </div>
      )}
      {data !== undefined && (
        <>
          <Dimensions admin={data} />
          {data && <KpiDefinitions />}
          {data && <Providers />}
          <AlertRules admin={data} />
          {data && <Keys />}
        </>
      )}
    </>
  );
}
