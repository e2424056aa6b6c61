import type { Violation } from '../core/errors.ts';
import { CUSTOM_DATA_KEY, normaliseKey } from '../model/custom-data.ts';
import { EVENT_FIELDS } from '../storage/event-fields.ts';
import type { QueryField } from '../storage/storage.ts';
import type { Dimension } from './dimensions.ts';

/** A field the spec can name: an event column or a customData key. */
export type SpecField = Exclude<QueryField, { kind: 'fact' }>;

/** A field name of the spec as a SpecField, or undefined once the violation at `at` is pushed. */
export type FieldResolver = (name: string, at: string) => SpecField | undefined;

/** A field name of the spec as a QueryField: an event column, or `customData.<normalised key>`. */
export function resolveField(
  name: string,
  at: string,
  dimensions: ReadonlyMap<string, Dimension>,
  violations: Violation[],
): SpecField | undefined {
  if (name.startsWith('customData.')) {
    const key = name.slice('customData.'.length);
    if (!CUSTOM_DATA_KEY.test(key)) {
      const normalised = normaliseKey(key);
      violations.push({
        field: at,
        rule: 'customDataKey',
        message: CUSTOM_DATA_KEY.test(normalised)
          ? `customData keys are stored normalised: use customData.${normalised}`
          : 'is not a customData key (ASCII letters, digits and "_")',
        received: name,
      });
      return undefined;
    }
    const dimension = dimensions.get(key);
    return {
      kind: 'custom',
      key,
      type: dimension?.type ?? 'text',
      ...(dimension && dimension.eventKinds.length > 0 && { kinds: dimension.eventKinds }),
    };
  }
  const known = EVENT_FIELDS.get(name);
  if (!known) {
    violations.push({
      field: at,
      rule: 'field',
      message: 'is neither an event field (eventType, originLevel1, queryText, …) nor customData.<key>',
      received: name,
    });
    return undefined;
  }
  return { kind: 'column', field: name, type: known.type };
}

export const isNumeric = (field: SpecField) =>
  field.kind === 'custom' ? field.type === 'number' : field.type === 'integer';
