import { type Params, PRESETS, presetOf, range, setParams } from '../url-state.ts';

/** `2026-11-30T12:00` for a datetime-local input, in the reader's zone. */
function localInput(iso: string): string {
  const date = new Date(iso);
  const offset = date.getTimezoneOffset() * 60_000;
  return new Date(date.getTime() - offset).toISOString().slice(0, 16);
}

/**
 * The time range of the view, kept in the URL: a preset (relative to now), or a custom `from`/`to`. Choosing
 * Custom fixes the current range's instants in the URL, so the URL then names exactly that range.
 */
export function TimeRange({ params }: { params: Params }) {
  const preset = presetOf(params);
  const current = range(params);
  return (
    <fieldset class="time-range" data-testid="time-range">
      <legend class="visually-hidden">Time range</legend>
      <label>
        Range{' '}
        <select
          value={preset}
          onChange={(event) => {
            const chosen = (event.target as HTMLSelectElement).value;
            if (chosen === 'custom') setParams({ preset: 'custom', from: current.from, to: current.to });
            else setParams({ preset: chosen, from: undefined, to: undefined });
          }}
        >
          {PRESETS.map((option) => (
            <option key={option.id} value={option.id}>
              {option.label}
            </option>
          ))}
        </select>
      </label>
      {preset === 'custom' && (
        <>
          <label>
            From{' '}
            <input
              type="datetime-local"
              value={localInput(current.from)}
              onChange={(event) => {
                const value = (event.target as HTMLInputElement).value;
                if (value) setParams({ from: new Date(value).toISOString() });
              }}
            />
          </label>
          <label>
            To{' '}
            <input
              type="datetime-local"
              value={localInput(current.to)}
              onChange={(event) => {
                const value = (event.target as HTMLInputElement).value;
                if (value) setParams({ to: new Date(value).toISOString() });
              }}
            />
          </label>
        </>
      )}
    </fieldset>
  );
}
