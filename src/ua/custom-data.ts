import type { Violation } from '../server/errors.ts';

/** A normalised customData key: what every key must be once whitespace and case are folded. */
export const CUSTOM_DATA_KEY = /^[a-z0-9_]+$/;

/** Coveo's key rule: whitespace becomes `_`, uppercase becomes lowercase (`"Facet Id"` → `facet_id`). */
export const normaliseKey = (key: string) => key.replace(/\s/g, '_').toLowerCase();

/**
 * Folds customData into string keys and string values. A string value is kept as-is; any other
 * JSON value becomes its JSON text, so `["a","b"]` stays usable with a "contains" filter.
 * Keys that still break the rule after folding, or that fold onto the same key as another, are
 * reported, never dropped.
 */
export function normaliseCustomData(
  raw: Record<string, unknown>,
  fieldPrefix = 'customData',
): { data: Record<string, string>; violations: Violation[] } {
  const data: Record<string, string> = {};
  const origin: Record<string, string> = {};
  const violations: Violation[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const normalised = normaliseKey(key);
    if (!CUSTOM_DATA_KEY.test(normalised)) {
      violations.push({
        field: `${fieldPrefix}.${key}`,
        rule: 'keyCharacters',
        limit: CUSTOM_DATA_KEY.source,
        message:
          'a customData key may hold only ASCII letters, digits, "_" and whitespace (which becomes "_")',
        received: key,
      });
      continue;
    }
    const earlier = origin[normalised];
    if (earlier !== undefined) {
      violations.push({
        field: `${fieldPrefix}.${key}`,
        rule: 'uniqueKey',
        message: `normalises to "${normalised}", as "${earlier}" already does`,
        received: key,
      });
      continue;
    }
    origin[normalised] = key;
    data[normalised] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return { data, violations };
}
