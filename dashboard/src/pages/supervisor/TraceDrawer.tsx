import { useEffect, useRef } from 'preact/hooks';
import { get, query } from '../../api.ts';
import { DataTable } from '../../components/DataTable.tsx';
import { formatDuration } from '../../format.ts';
import { useApi } from '../../use-api.ts';
import { Section } from './Section.tsx';

/** An item of `GET /api/v1/correlations/{id}`: a record (conversation, session, participant) or an event. */
export interface CorrelatedItem {
  kind: 'conversation' | 'session' | 'participant' | 'kpiEvent' | 'event';
  time: string;
  record: Record<string, unknown>;
}

/** How far back the conversation's correlation ids are looked for. */
const TRACE_LOOKBACK_DAYS = 400;

interface TraceLine {
  index: number;
  time: string;
  offset: number;
  gap: number;
  kind: string;
  what: string;
  agent: string;
  session: string;
  detail: string;
}

const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));

/** Every item in time order, with the time since the first and since the one before (the trace's timings). */
export function traceLines(items: readonly CorrelatedItem[]): TraceLine[] {
  const ordered = [...items].sort((a, b) => a.time.localeCompare(b.time));
  const start = ordered[0] ? new Date(ordered[0].time).getTime() : 0;
  let previous = start;
  return ordered.map((item, index) => {
    const at = new Date(item.time).getTime();
    const r = item.record;
    const line: TraceLine = {
      index,
      time: item.time,
      offset: (at - start) / 1000,
      gap: (at - previous) / 1000,
      kind: item.kind,
      what: text(r.eventType ?? r.name ?? r.conversationId ?? item.kind),
      agent: text(r.participantId),
      session: text(r.providerSessionId),
      detail: [
        r.eventValue,
        r.notificationResponseAction,
        r.newPresence,
        r.queueName,
        r.channel,
        r.customData && Object.keys(r.customData as object).length > 0 ? JSON.stringify(r.customData) : '',
      ]
        .filter((part) => part !== null && part !== undefined && part !== '')
        .join(' · '),
    };
    previous = at;
    return line;
  });
}

/**
 * The correlation ids a conversation's events carry (each logAnalyticsEvent call has its own unless the
 * desktop passes one), found with the query API, then every item of each, merged: the id itself is tried
 * as a correlation id too (the demo and many desktops use the conversation id).
 */
async function loadTrace(id: string): Promise<{ correlationIds: string[]; items: CorrelatedItem[] }> {
  const now = Date.now();
  const carried = await query({
    measures: ['count'],
    dimensions: ['correlationId'],
    filters: [
      { field: 'conversationId', op: 'eq', value: id },
      { field: 'correlationId', op: 'ne', value: null },
    ],
    from: new Date(now - TRACE_LOOKBACK_DAYS * 86_400_000).toISOString(),
    to: new Date(now + 60_000).toISOString(),
    limit: 1000,
  });
  const correlationIds = [...new Set([id, ...carried.rows.map((row) => String(row.correlationId))])];
  const answers = await Promise.all(
    correlationIds.map((correlationId) =>
      get<{ items: CorrelatedItem[] }>(`/api/v1/correlations/${encodeURIComponent(correlationId)}`),
    ),
  );
  const seen = new Set<string>();
  const items = answers
    .flatMap((answer) => answer.items)
    .filter((item) => {
      const key = `${item.kind}:${String(item.record.id ?? JSON.stringify(item.record))}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  return { correlationIds, items };
}

/**
 * A conversation's full trace, one click from the Supervisor's tables: every record and event carrying its
 * correlation id (the conversation id, as the desktop and the demo set it), in time order, with timings.
 * The URL holds it (`trace=<id>`), so a trace can be shared; Escape or the button closes it.
 */
export function TraceDrawer({ id, onClose }: { id: string; onClose: () => void }) {
  const trace = useApi(() => loadTrace(id), id);
  const panel = useRef<HTMLElement>(null);
  useEffect(() => {
    panel.current?.focus();
    const close = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', close);
    return () => window.removeEventListener('keydown', close);
  }, [onClose]);
  const lines = trace.data ? traceLines(trace.data.items) : [];
  const total = lines.at(-1)?.offset ?? 0;
  return (
    <aside
      ref={panel}
      tabIndex={-1}
      role="dialog"
      aria-modal="false"
      aria-label={`Trace of ${id}`}
      data-testid="trace"
      style={{
        position: 'fixed',
        top: 0,
        right: 0,
        bottom: 0,
        width: 'min(760px, 92vw)',
        overflowY: 'auto',
        background: 'var(--bg)',
        borderLeft: '1px solid var(--border)',
        boxShadow: '-4px 0 16px rgba(0,0,0,0.25)',
        padding: '1rem',
        zIndex: 10,
      }}
    >
      <div class="page-header">
        <h2>
          Trace <code>{id}</code>
        </h2>
        <button type="button" onClick={onClose} data-testid="trace-close">
          Close
        </button>
      </div>
      <Section
        title="Every record and event"
        loading={trace.loading && !trace.data}
        error={trace.error}
        retry={trace.reload}
        empty={
          lines.length === 0
            ? {
                message: 'Nothing carries this correlation id.',
                next: 'Events logged without a correlation id are not traced: check the id, or find the conversation in Explorer.',
              }
            : undefined
        }
      >
        <p class="muted">
          {lines.length} items over {formatDuration(total)}, from {lines[0]?.time} (times relative to the
          first). Correlation ids:{' '}
          {trace.data?.correlationIds.map((cid) => (
            <code key={cid}>{cid} </code>
          ))}
        </p>
        <DataTable
          testId="trace-table"
          rows={lines}
          rowKey={(line) => String(line.index)}
          columns={[
            { key: 'offset', label: '+ time', numeric: true, render: (line) => formatDuration(line.offset) },
            {
              key: 'gap',
              label: 'since previous',
              numeric: true,
              render: (line) => formatDuration(line.gap),
            },
            { key: 'kind', label: 'Kind' },
            { key: 'what', label: 'Event / record' },
            { key: 'agent', label: 'Agent' },
            {
              key: 'session',
              label: 'Session',
              render: (line) => <span title={line.session}>{line.session.slice(0, 8) || '—'}</span>,
            },
            { key: 'detail', label: 'Detail' },
            { key: 'time', label: 'At' },
          ]}
        />
      </Section>
    </aside>
  );
}
