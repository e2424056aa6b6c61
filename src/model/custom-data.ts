import type { Violation } from '../core/errors.ts';

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
  const entries: [string, string][] = [];
  // A Map, not an object: keys such as "constructor" must not find Object.prototype.
  const origin = new Map<string, string>();
  const violations: Violation[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const normalised = normaliseKey(key);
    if (!CUSTOM_DATA_KEY.test(normalised)) {
      violations.push({
        field: within(fieldPrefix, key),
        rule: 'keyCharacters',
        limit: CUSTOM_DATA_KEY.source,
        message:
          'a customData key may hold only ASCII letters, digits, "_" and whitespace (which becomes "_")',
        received: key,
      });
      continue;
    }
    const earlier = origin.get(normalised);
    if (earlier !== undefined) {
      violations.push({
        field: within(fieldPrefix, key),
        rule: 'uniqueKey',
        message: `normalises to "${normalised}", as "${earlier}" already does`,
        received: key,
      });
      continue;
    }
    origin.set(normalised, key);
    const text = typeof value === 'string' ? value : jsonText(value);
    if (text === undefined) {
      violations.push({
        field: within(fieldPrefix, key),
        rule: 'maxDepth',
        message: 'is nested too deeply to be stored as JSON text',
      });
      continue;
    }
    entries.push([normalised, text]);
  }
  // fromEntries defines own properties, so even a key like "__proto__" is kept as data.
  const data = Object.fromEntries(entries);
  return { data, violations };
}

/** A key's field path: under its object's field, or alone when the keys are the body's own. */
const within = (prefix: string, key: string) => (prefix ? `${prefix}.${key}` : key);

/** The JSON text of a value, or undefined when it is nested too deeply for the engine to serialise. */
function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}
