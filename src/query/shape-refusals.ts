import type { TObject } from '@sinclair/typebox';
import type { Violation } from '../core/errors.ts';
import { compileCheck } from '../core/validation.ts';

/** A refusal as a shape words it, before it is placed (`field`) and given what was received. */
export type Refusal = Omit<Violation, 'field' | 'received'>;

export interface ObjectShape<T extends TObject> {
  schema: T;
  /**
   * The properties of `value` (an item at `at`) that the schema finds at fault, each named once: unknown ones
   * first, then the shape's own in its order. `faulty` holds them all; a property the wording leaves out is
   * worded by its caller's own check, which says more than its shape (a filter's value, by the field's type).
   */
  check(value: Record<string, unknown>, at: string): { violations: Violation[]; faulty: ReadonlySet<string> };
}

/**
 * One shape of a list item (a measure, a filter), closed and flat, checked by Ajv and refused in words of its
 * own: where Ajv would answer a union's every branch and a keyword per fault (`type` and `enum` for one value),
 * a measure or a filter answers one violation per property, saying what that property of this shape takes.
 */
export function objectShape<T extends TObject>(
  schema: T,
  wording: { properties: Readonly<Record<string, Refusal>>; unknown: Refusal },
): ObjectShape<T> {
  const validate = compileCheck(schema);
  const own = Object.keys(schema.properties);
  return {
    schema,
    check(value, at) {
      // The shape is flat: Ajv places each fault at the property's own name.
      const atFault = new Set(validate(value).map((v) => v.field));
      const unknown = Object.keys(value).filter((key) => !own.includes(key) && atFault.has(key));
      const faulty = own.filter((key) => atFault.has(key));
      const violations: Violation[] = [
        ...unknown.map((key) => ({ field: `${at}.${key}`, ...wording.unknown, received: key })),
        ...faulty.flatMap((key) => {
          const refusal = wording.properties[key];
          return refusal ? [{ field: `${at}.${key}`, ...refusal, received: value[key] }] : [];
        }),
      ];
      return { violations, faulty: new Set([...unknown, ...faulty]) };
    },
  };
}
