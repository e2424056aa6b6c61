import { useState } from 'preact/hooks';
import { filtersOf, filtersParam, type Params, setParams, type UrlFilter } from '../url-state.ts';

const OPS: UrlFilter['op'][] = ['eq', 'ne', 'contains', 'in', 'gt', 'ge', 'lt', 'le'];

/** A typed value for the query API: numbers as numbers, `a, b` as a list for `in`. */
function valueFor(op: UrlFilter['op'], text: string): unknown {
  if (op === 'in')
    return text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
  if (['gt', 'ge', 'lt', 'le'].includes(op) && text.trim() !== '' && Number.isFinite(Number(text))) {
    return Number(text);
  }
  return text;
}

function describe(filter: UrlFilter): string {
  const value = Array.isArray(filter.value) ? filter.value.join(', ') : String(filter.value);
  return `${filter.field} ${filter.op} ${value}`;
}

/**
 * The view's filters (the query API's `{field, op, value}`), kept in the URL's `filters` parameter: each shown as
 * a removable chip, and a form to add one on any field the page offers (or any field typed in).
 */
export function FilterBar({ params, fields }: { params: Params; fields: string[] }) {
  const filters = filtersOf(params);
  const [field, setField] = useState(fields[0] ?? '');
  const [op, setOp] = useState<UrlFilter['op']>('eq');
  const [text, setText] = useState('');
  const listId = `filter-fields-${fields.length}`;

  const write = (next: UrlFilter[]) => setParams({ filters: filtersParam(next) });

  return (
    <div class="filter-bar" data-testid="filter-bar">
      <ul class="chips" aria-label="Filters">
        {filters.map((filter, index) => (
          <li key={describe(filter)} class="chip">
            <span>{describe(filter)}</span>
            <button
              type="button"
              aria-label={`Remove filter ${describe(filter)}`}
              onClick={() => write(filters.filter((_, at) => at !== index))}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <form
        class="filter-form"
        onSubmit={(event) => {
          event.preventDefault();
          if (!field.trim() || text.trim() === '') return;
          write([...filters, { field: field.trim(), op, value: valueFor(op, text) }]);
          setText('');
        }}
      >
        <label>
          Field{' '}
          <input
            list={listId}
            value={field}
            size={16}
            onInput={(event) => setField((event.target as HTMLInputElement).value)}
          />
        </label>
        <datalist id={listId}>
          {fields.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
        <label>
          <span class="visually-hidden">Operator</span>
          <select
            value={op}
            onChange={(event) => setOp((event.target as HTMLSelectElement).value as UrlFilter['op'])}
          >
            {OPS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Value{' '}
          <input
            value={text}
            size={14}
            onInput={(event) => setText((event.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">Add filter</button>
      </form>
    </div>
  );
}
