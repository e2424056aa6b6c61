import { codes } from './markdown.ts';

/**
 * A field's rule in words, read from its JSON Schema (TypeBox's schemas are JSON Schema). A keyword the words
 * cannot say throws, so a rule added to a schema cannot slip past the documentation unsaid.
 */

/** The keywords of the UA schemas: what a rule says is made of these. */
export interface Schema {
  type?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean;
}

const SAID = new Set([
  'type',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'enum',
  'minimum',
  'maximum',
  'items',
  'minItems',
  'maxItems',
  'properties',
  'required',
  'patternProperties',
  // Open objects say nothing more; a closed one would (checked below).
  'additionalProperties',
]);

/** What a schema cannot say, for one table. */
export interface Words {
  /**
   * A string format in words. `''` is a format the text around the table states once for every field that
   * has it (`printable`: no control characters); a string with no format, pattern or enum is then said to be
   * `free text`, so that each row still says which of the two rules it has.
   */
  formats: Record<string, string>;
  /** A pattern in words, where `matches …` would be cryptic; other patterns are shown as they are. */
  patterns?: Record<string, string>;
  /**
   * The rest, keyed by field path (`originLevel3`, `facetState.state`): appended verbatim to the field's rule,
   * so a note brings its own separator (`' (OpenUA's bound)'`, `'; see below'`). A note no field uses throws.
   */
  notes: Record<string, string>;
}

/** The largest value of an integer column: the tables' introduction says integers stay below 2³¹. */
export const INT32_MAX = 2 ** 31 - 1;

/** A number as the documentation writes it, with a true minus sign. */
const number = (n: number) => (n < 0 ? `−${-n}` : String(n));

const oneOfWords = (values: unknown[]) => {
  const names = codes(values.map(String)).split(', ');
  return names.length === 1 ? (names[0] as string) : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
};

const range = (min: number | undefined, max: number | undefined) =>
  min !== undefined && max !== undefined
    ? `${number(min)}–${number(max)}`
    : max !== undefined
      ? `≤ ${number(max)}`
      : min !== undefined
        ? `≥ ${number(min)}`
        : undefined;

export class RuleWriter {
  private readonly used = new Set<string>();
  constructor(private readonly words: Words) {}

  /** A field's rule: `required; 1–128 (OpenUA's bound)`. Inner fields part their words with `, `. */
  rule(schema: Schema, path: string, required: boolean, separator = '; '): string {
    const parts = [...(required ? ['required'] : []), ...this.parts(schema, path)];
    return parts.join(separator) + this.note(path);
  }

  /** The fields of `schema.properties`, with identical rules in one group, in the order they first appear. */
  fields(schema: Schema, path: string): string {
    const groups = new Map<string, string[]>();
    for (const [name, field] of Object.entries(schema.properties ?? {})) {
      const rule = this.rule(field, `${path}.${name}`, schema.required?.includes(name) ?? false, ', ');
      groups.set(rule, [...(groups.get(rule) ?? []), name]);
    }
    return [...groups].map(([rule, names]) => `${codes(names)}: ${rule}`).join('; ');
  }

  /** Throws for notes no field used: the field is gone, or was renamed. */
  checkNotesUsed(table: string): void {
    const unused = Object.keys(this.words.notes).filter((path) => !this.used.has(path));
    if (unused.length > 0) throw new Error(`${table}: notes for no field: ${unused.join(', ')}`);
  }

  /** Whether a format of the table is said around it, so strings without it are said to be free text. */
  private saysFreeText(): boolean {
    return Object.values(this.words.formats).includes('');
  }

  private note(path: string): string {
    const note = this.words.notes[path];
    if (note === undefined) return '';
    this.used.add(path);
    return note;
  }

  private parts(schema: Schema, path: string): string[] {
    const unsaid = Object.keys(schema).filter((keyword) => !SAID.has(keyword));
    if (unsaid.length > 0) throw new Error(`${path}: the table cannot say ${unsaid.join(', ')}`);
    if (schema.additionalProperties === false)
      throw new Error(`${path}: the table cannot say a closed object`);
    switch (schema.type) {
      case 'string': {
        const parts: string[] = [];
        if (schema.enum) parts.push(oneOfWords(schema.enum));
        if (schema.format !== undefined) {
          const words = this.words.formats[schema.format];
          if (words === undefined) throw new Error(`${path}: no words for the format "${schema.format}"`);
          if (words !== '') parts.push(words);
        } else if (schema.pattern === undefined && !schema.enum && this.saysFreeText()) {
          parts.push('free text');
        }
        if (schema.pattern !== undefined)
          parts.push(this.words.patterns?.[schema.pattern] ?? `matches \`${schema.pattern}\``);
        const length = range(schema.minLength, schema.maxLength);
        if (length !== undefined) parts.push(length);
        return parts.length > 0 ? parts : ['a string'];
      }
      case 'integer': {
        if (schema.maximum === undefined) throw new Error(`${path}: an integer without a maximum`);
        const max = schema.maximum === INT32_MAX ? undefined : schema.maximum;
        if (schema.minimum !== undefined && max !== undefined)
          return [`an integer from ${number(schema.minimum)} to ${number(max)}`];
        const bounds = range(schema.minimum, max);
        return [bounds === undefined ? 'an integer' : `an integer ${bounds}`];
      }
      case 'boolean':
        return ['a boolean'];
      case 'array': {
        const items = schema.items;
        if (!items) throw new Error(`${path}: an array of anything`);
        const count = range(schema.minItems, schema.maxItems);
        if (count === undefined) throw new Error(`${path}: an array without a bound`);
        if (items.type === 'object' && items.properties)
          return [`${count} objects {${this.fields(items, path)}}`];
        if (items.type === 'string')
          return [`${count} strings of ${this.rule(items, `${path}[]`, false, ', ')}`];
        throw new Error(`${path}: an array of ${items.type}`);
      }
      case 'object': {
        const open = Object.values(schema.patternProperties ?? {}).every((p) => Object.keys(p).length === 0);
        if (!open) throw new Error(`${path}: the table cannot say the values' rules`);
        return schema.properties ? [`an object {${this.fields(schema, path)}}`] : ['an object'];
      }
      default:
        throw new Error(`${path}: no words for the type ${schema.type}`);
    }
  }
}
