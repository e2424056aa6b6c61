import { useState } from 'preact/hooks';
import { get } from '../api.ts';
import { DataTable } from '../components/DataTable.tsx';
import { Empty } from '../components/Empty.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { PageHeader } from '../components/Layout.tsx';
import { Loading } from '../components/Loading.tsx';
import { TimeRange } from '../components/TimeRange.tsx';
import { formatTime } from '../format.ts';
import { type Params, range, setParams, useRoute } from '../url-state.ts';
import { useApi } from '../use-api.ts';

type StoredEvent = Record<string, unknown> & { id: string; customData: Record<string, string> };

interface Rejection {
  id: string;
  route: string;
  item: number | null;
  receivedAt: string;
  credentialId: string;
  payload: string;
  payloadBytes: number;
  violations: { field: string; rule: string; message: string }[];
  rules: string[];
}

const LIMITS = ['100', '500', '1000', '10000'];

/** A query string of the parameters given (empty ones left out). */
function search(parameters: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) if (value) query.set(key, value);
  return query.toString();
}

/** A text parameter edited in place and written to the URL when the field is left or Enter is pressed. */
function ParamInput({
  label,
  name,
  params,
  testId,
}: {
  label: string;
  name: string;
  params: Params;
  testId: string;
}) {
  return (
    <label>
      {label}
      <input
        data-testid={testId}
        value={params[name] ?? ''}
        onChange={(event) => setParams({ [name]: (event.target as HTMLInputElement).value.trim() })}
      />
    </label>
  );
}

function LimitSelect({ params }: { params: Params }) {
  return (
    <label>
      At most
      <select
        value={params.limit ?? '100'}
        onChange={(event) => setParams({ limit: (event.target as HTMLSelectElement).value })}
      >
        {LIMITS.map((limit) => (
          <option key={limit} value={limit}>
            {limit}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The stored fields of an event worth a column: the non-empty ones are in its detail. */
const eventSummary = (event: StoredEvent) =>
  [event.queryText, event.documentTitle, event.conversationId, event.participantId, event.newPresence]
    .filter((value) => value !== null && value !== undefined && value !== '')
    .join(' · ');

function Events({ params }: { params: Params }) {
  // Keyed on the parameters; a relative range is resolved when the call is made.
  const { data, error, loading, reload } = useApi(() => {
    const { from, to } = range(params);
    return get<{ events: StoredEvent[] }>(
      `/api/v1/events?${search({ from, to, eventType: params.eventType, limit: params.limit ?? '100' })}`,
    );
  }, JSON.stringify(params));
  const [open, setOpen] = useState<StoredEvent>();
  return (
    <>
      <div class="form-row">
        <ParamInput label="Event type" name="eventType" params={params} testId="explorer-event-type" />
        <LimitSelect params={params} />
      </div>
      {error && <ErrorBox error={error} retry={reload} />}
      {!data && loading && <Loading what="events" />}
      {data &&
        (data.events.length > 0 ? (
          <DataTable
            testId="explorer-events"
            caption={`${data.events.length} events, newest first`}
            rows={data.events}
            rowKey={(event) => event.id}
            onOpen={setOpen}
            columns={[
              {
                key: 'derivedTime',
                label: 'Time',
                render: (event) => formatTime(event.derivedTime as string),
              },
              { key: 'category', label: 'Kind' },
              { key: 'eventType', label: 'Type' },
              { key: 'eventValue', label: 'Value' },
              { key: 'summary', label: 'About', render: eventSummary, sortValue: eventSummary },
              { key: 'credentialId', label: 'Credential' },
            ]}
          />
        ) : (
          <Empty
            message="No events in this range."
            next="Widen the range or clear the event type; events appear here as soon as they are acknowledged."
          />
        ))}
      {open && <Detail title={`Event ${open.id}`} value={open} onClose={() => setOpen(undefined)} />}
    </>
  );
}

function Rejections({ params }: { params: Params }) {
  const { data, error, loading, reload } = useApi(() => {
    const { from, to } = range(params);
    const filters = { from, to, route: params.route, rule: params.rule, limit: params.limit ?? '100' };
    return Promise.all([
      get<{ count: number; rejections: Rejection[] }>(`/api/v1/rejections?${search(filters)}`),
      get<{ counts: { rule: string; count: number }[] }>(
        `/api/v1/rejections/counts?${search({ from, to, route: params.route })}`,
      ),
    ]);
  }, JSON.stringify(params));
  const [open, setOpen] = useState<Rejection>();
  return (
    <>
      <div class="form-row">
        <ParamInput label="Route" name="route" params={params} testId="explorer-route" />
        <ParamInput label="Rule" name="rule" params={params} testId="explorer-rule" />
        <LimitSelect params={params} />
      </div>
      {error && <ErrorBox error={error} retry={reload} />}
      {!data && loading && <Loading what="rejections" />}
      {data && (
        <>
          {data[1].counts.length > 0 && (
            <p>
              By rule:{' '}
              {data[1].counts.map((entry) => (
                <button
                  type="button"
                  key={entry.rule}
                  class="chip"
                  aria-pressed={params.rule === entry.rule}
                  onClick={() => setParams({ rule: params.rule === entry.rule ? undefined : entry.rule })}
                >
                  {entry.rule}{' '}
                  <span data-kpi={`rejections.${entry.rule}`} data-value={entry.count}>
                    {entry.count}
                  </span>
                </button>
              ))}
            </p>
          )}
          {data[0].rejections.length > 0 ? (
            <DataTable
              testId="explorer-rejections"
              caption={`${data[0].rejections.length} of ${data[0].count} rejections, newest first`}
              rows={data[0].rejections}
              rowKey={(rejection) => rejection.id}
              onOpen={setOpen}
              columns={[
                {
                  key: 'receivedAt',
                  label: 'Received',
                  render: (rejection) => formatTime(rejection.receivedAt),
                },
                { key: 'route', label: 'Route' },
                { key: 'item', label: 'Item', numeric: true },
                { key: 'rules', label: 'Rules', render: (rejection) => rejection.rules.join(', ') },
                {
                  key: 'violations',
                  label: 'First violation',
                  render: (rejection) => {
                    const first = rejection.violations[0];
                    return first ? `${first.field || 'body'}: ${first.message}` : '—';
                  },
                },
                { key: 'credentialId', label: 'Credential' },
              ]}
            />
          ) : (
            <Empty message="Nothing was refused in this range." next="Every event sent in it was accepted." />
          )}
        </>
      )}
      {open && (
        <Detail
          title={`Rejection ${open.id}`}
          value={{ ...open, payload: parsePayload(open.payload) }}
          onClose={() => setOpen(undefined)}
        />
      )}
    </>
  );
}

/** The payload as it was sent when it is JSON (it may be cut at the size cap, then it stays text). */
function parsePayload(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return payload;
  }
}

function Detail({ title, value, onClose }: { title: string; value: unknown; onClose: () => void }) {
  return (
    <section class="panel" data-testid="explorer-detail" aria-label={title}>
      <div class="page-header">
        <h2>{title}</h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <pre class="json">{JSON.stringify(value, null, 2)}</pre>
    </section>
  );
}

/** Raw events (GET /api/v1/events) and refused events (GET /api/v1/rejections), filtered and opened one by one. */
export function Explorer() {
  const { params } = useRoute();
  const tab = params.tab === 'rejections' ? 'rejections' : 'events';
  return (
    <>
      <PageHeader title="Explorer">
        <TimeRange params={params} />
      </PageHeader>
      <div class="tabs" role="tablist">
        {(['events', 'rejections'] as const).map((name) => (
          <button
            type="button"
            role="tab"
            key={name}
            data-testid={`explorer-tab-${name}`}
            aria-selected={tab === name}
            onClick={() => setParams({ tab: name === 'events' ? undefined : name })}
          >
            {name === 'events' ? 'Events' : 'Rejections'}
          </button>
        ))}
      </div>
      {tab === 'events' ? <Events params={params} /> : <Rejections params={params} />}
    </>
  );
}
