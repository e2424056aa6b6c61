import { useEffect, useState } from 'preact/hooks';

/**
 * The view lives in the URL's hash (`#/agent?from=…&to=…&agent=…&filters=…`), so a shared or reloaded URL
 * restores it and the server needs no fallback route for the pages.
 */

export type Params = Record<string, string>;

export interface Route {
  page: string;
  params: Params;
}

export function parseHash(hash: string): Route {
  const trimmed = hash.replace(/^#\/?/, '');
  const mark = trimmed.indexOf('?');
  const page = (mark === -1 ? trimmed : trimmed.slice(0, mark)).replace(/\/+$/, '');
  const params: Params = {};
  if (mark !== -1) {
    for (const [key, value] of new URLSearchParams(trimmed.slice(mark + 1))) params[key] = value;
  }
  return { page, params };
}

export function formatHash(route: Route): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(route.params)) {
    if (value !== '') search.set(key, value);
  }
  const query = search.toString();
  return `#/${route.page}${query ? `?${query}` : ''}`;
}

/** The current page and parameters, re-rendered whenever the hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

/**
 * Merges parameters into the current view's hash; an empty string or undefined removes one. Replaces the
 * history entry so each filter change does not take a Back press.
 */
export function setParams(partial: Record<string, string | undefined>): void {
  const current = parseHash(location.hash);
  const params = { ...current.params };
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined || value === '') delete params[key];
    else params[key] = value;
  }
  const next = formatHash({ page: current.page, params });
  if (next === location.hash) return;
  history.replaceState(null, '', next);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

/** Goes to a page, keeping the time range and filters (they are shared by the pages). */
export function navigate(page: string, params?: Params): void {
  const current = parseHash(location.hash);
  const kept: Params = {};
  for (const key of ['preset', 'from', 'to', 'filters']) {
    const value = current.params[key];
    if (value) kept[key] = value;
  }
  location.hash = formatHash({ page, params: params ?? kept });
}

export const PRESETS = [
  { id: '15m', label: 'Last 15 min' },
  { id: '1h', label: 'Last hour' },
  { id: 'today', label: 'Today' },
  { id: '7d', label: 'Last 7 days' },
  { id: '30d', label: 'Last 30 days' },
  { id: 'custom', label: 'Custom' },
] as const;

export type Preset = (typeof PRESETS)[number]['id'];

const MINUTE = 60_000;
const PRESET_SPANS: Record<string, number> = {
  '15m': 15 * MINUTE,
  '1h': 60 * MINUTE,
  '7d': 7 * 24 * 60 * MINUTE,
  '30d': 30 * 24 * 60 * MINUTE,
};

export const DEFAULT_PRESET: Preset = '7d';

/** The preset the parameters name: `custom` when they carry explicit `from`/`to`, else `preset` or the default. */
export function presetOf(params: Params): Preset {
  if (params.from && params.to && (!params.preset || params.preset === 'custom')) return 'custom';
  const named = PRESETS.find((preset) => preset.id === params.preset);
  return named && named.id !== 'custom' ? named.id : DEFAULT_PRESET;
}

/**
 * The time range the parameters describe, as ISO instants (`from` inclusive, `to` exclusive, as the query API
 * takes them). A relative preset is evaluated against `now`; `from`/`to` in the URL make it exact, which is what
 * a shared URL should carry when the view must be the same for the reader.
 */
export function range(params: Params, now: Date = new Date()): { from: string; to: string } {
  const preset = presetOf(params);
  if (preset === 'custom') {
    return {
      from: new Date(params.from as string).toISOString(),
      to: new Date(params.to as string).toISOString(),
    };
  }
  if (preset === 'today') {
    const start = new Date(now);
    start.setHours(0, 0, 0, 0);
    return { from: start.toISOString(), to: now.toISOString() };
  }
  return { from: new Date(now.getTime() - (PRESET_SPANS[preset] ?? 0)).toISOString(), to: now.toISOString() };
}

/** A granularity that gives a readable number of buckets for a range. */
export function granularityFor(from: string, to: string): 'minute' | 'hour' | 'day' {
  const span = new Date(to).getTime() - new Date(from).getTime();
  if (span <= 3 * 60 * MINUTE) return 'minute';
  if (span <= 3 * 24 * 60 * MINUTE) return 'hour';
  return 'day';
}

/** A filter of the URL's `filters` parameter: the query API's `{field, op, value}`. */
export interface UrlFilter {
  field: string;
  op: 'eq' | 'ne' | 'in' | 'contains' | 'gt' | 'ge' | 'lt' | 'le';
  value: unknown;
}

/** The `filters` parameter (JSON of query-API filters), or none when absent or not readable. */
export function filtersOf(params: Params): UrlFilter[] {
  if (!params.filters) return [];
  try {
    const parsed: unknown = JSON.parse(params.filters);
    return Array.isArray(parsed)
      ? parsed.filter(
          (item): item is UrlFilter =>
            typeof item === 'object' && item !== null && typeof (item as UrlFilter).field === 'string',
        )
      : [];
  } catch {
    return [];
  }
}

export function filtersParam(filters: UrlFilter[]): string {
  return filters.length ? JSON.stringify(filters) : '';
}
