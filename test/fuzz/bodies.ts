import fc from 'fast-check';
import { isUtf8 } from './requests.ts';

/**
 * Bodies for the fuzzer: a valid seed mutated (wrong types, huge or empty strings, NUL, BOM and lone
 * surrogates, deep nesting, extra keys and `__proto__`, numbers JSON.stringify cannot write such as 1e400 and
 * -0), or random JSON; then encoded (JSON, text/plain, a form beacon, a wrong or missing media type) and maybe
 * broken at the byte level (invalid UTF-8, cut short). Everything is plain data that fast-check can shrink,
 * so a failure ends as a small request.
 */

/** JSON text written verbatim: what JSON.stringify cannot produce (1e400, -0, deep nesting). */
export class Raw {
  constructor(readonly text: string) {}
}

export type Json = null | boolean | number | string | Raw | Json[] | { [key: string]: Json };

const isObject = (value: Json): value is { [key: string]: Json } =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Raw);

/** JSON text, `Raw` verbatim; an own `__proto__` key is written like any other. */
export function encode(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(encode).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .map((key) => `${JSON.stringify(key)}:${encode(value[key] as Json)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** An object with `key` set as an own property, even `__proto__` (an assignment would set the prototype). */
function withKey(object: { [key: string]: Json }, key: string, value: Json): { [key: string]: Json } {
  const copy: { [key: string]: Json } = {};
  for (const k of Object.keys(object)) {
    Object.defineProperty(copy, k, {
      value: object[k],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function withoutKey(object: { [key: string]: Json }, key: string): { [key: string]: Json } {
  let copy: { [key: string]: Json } = {};
  for (const k of Object.keys(object)) if (k !== key) copy = withKey(copy, k, object[k] as Json);
  return copy;
}

// ---- mutations ------------------------------------------------------------------------------------

export type Mutation =
  | { op: 'replace'; at: number; value: Json }
  /** A string of the body (a key's value, an item of a list) replaced: most rules are about strings. */
  | { op: 'replaceString'; at: number; value: Json }
  | { op: 'nest'; at: number; depth: number; shape: 'array' | 'object' }
  /** The node embedded in itself at one of its descendants, `depth` times: `{and:[{and:[…]}]}`. */
  | { op: 'selfNest'; at: number; inner: number; depth: number }
  | { op: 'addKey'; at: number; key: string; value: Json }
  | { op: 'deleteKey'; at: number; which: number }
  | { op: 'repeat'; at: number; times: number };

/** Every node of a value, in pre-order, as a path of keys and indexes. */
export function nodesOf(value: Json, path: (string | number)[] = [], into: (string | number)[][] = []) {
  into.push(path);
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) nodesOf(item, [...path, i], into);
  } else if (isObject(value))
    for (const key of Object.keys(value)) nodesOf(value[key] as Json, [...path, key], into);
  return into;
}

function getAt(value: Json, path: readonly (string | number)[]): Json {
  let node = value;
  for (const step of path) node = (node as Record<string | number, Json>)[step] as Json;
  return node;
}

function setAt(value: Json, path: readonly (string | number)[], replacement: Json): Json {
  if (path.length === 0) return replacement;
  const [step, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(value)) {
    const copy = [...value];
    copy[step as number] = setAt(value[step as number] as Json, rest, replacement);
    return copy;
  }
  const object = value as { [key: string]: Json };
  return withKey(
    withoutKey(object, String(step)),
    String(step),
    setAt(object[step] as Json, rest, replacement),
  );
}

function nest(node: Json, depth: number, shape: 'array' | 'object'): Raw {
  const inner = encode(node);
  return shape === 'array'
    ? new Raw(`${'['.repeat(depth)}${inner}${']'.repeat(depth)}`)
    : new Raw(`${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`);
}

const HOLE = '\u0001hole\u0001';

/** Bodies are kept below this many characters: past every body limit (413), short of memory trouble. */
const MAX_TEXT = 2_500_000;

/** How many copies of `size` characters fit under MAX_TEXT. */
const fitting = (count: number, size: number) =>
  Math.max(1, Math.min(count, Math.floor(MAX_TEXT / Math.max(size, 1))));

/** A grammar's own recursion, found in the seed: the node again where one of its descendants was. */
function selfNest(node: Json, inner: number, depth: number): Json {
  // Where the node's own kind of value (an object or a list) sits inside it: the recursion a grammar allows.
  const descendants = nodesOf(node)
    .slice(1)
    .filter((path) => {
      const found = getAt(node, path);
      return found !== null && typeof found === 'object' && !(found instanceof Raw);
    });
  const rel = descendants[inner % Math.max(descendants.length, 1)];
  if (!rel) return node;
  const text = encode(setAt(node, rel, HOLE));
  const [prefix, suffix] = text.split(JSON.stringify(HOLE)) as [string, string];
  const times = fitting(depth, prefix.length + suffix.length);
  return new Raw(`${prefix.repeat(times)}${encode(getAt(node, rel))}${suffix.repeat(times)}`);
}

/** Applies one mutation to the node it points at (`at` modulo the number of nodes). */
export function mutate(value: Json, mutation: Mutation): Json {
  const nodes = nodesOf(value);
  const path = nodes[mutation.at % nodes.length] ?? [];
  const node = getAt(value, path);
  switch (mutation.op) {
    case 'replace':
      return setAt(value, path, mutation.value);
    case 'replaceString': {
      const strings = nodes.filter((p) => typeof getAt(value, p) === 'string');
      const at = strings[mutation.at % Math.max(strings.length, 1)];
      return at ? setAt(value, at, mutation.value) : value;
    }
    case 'nest':
      return setAt(value, path, nest(node, mutation.depth, mutation.shape));
    case 'selfNest': {
      const containers = nodes.filter((p) => {
        const found = getAt(value, p);
        return found !== null && typeof found === 'object' && !(found instanceof Raw);
      });
      const at = containers[mutation.at % Math.max(containers.length, 1)] ?? [];
      return setAt(value, at, selfNest(getAt(value, at), mutation.inner, mutation.depth));
    }
    case 'addKey':
      if (isObject(node)) return setAt(value, path, withKey(node, mutation.key, mutation.value));
      if (Array.isArray(node)) return setAt(value, path, [...node, mutation.value]);
      return setAt(value, path, withKey({}, mutation.key, mutation.value));
    case 'deleteKey': {
      if (isObject(node)) {
        const keys = Object.keys(node);
        if (keys.length === 0) return value;
        return setAt(value, path, withoutKey(node, keys[mutation.which % keys.length] as string));
      }
      if (Array.isArray(node) && node.length > 0) {
        return setAt(
          value,
          path,
          node.filter((_, i) => i !== mutation.which % node.length),
        );
      }
      return value;
    }
    case 'repeat': {
      const times = mutation.times === 0 ? 0 : fitting(mutation.times, encode(node).length);
      if (Array.isArray(node) && node.length > 0) {
        return setAt(
          value,
          path,
          Array.from({ length: times }, (_, i) => node[i % node.length] as Json),
        );
      }
      return setAt(
        value,
        path,
        Array.from({ length: times }, () => node),
      );
    }
  }
}

/** Strings that break things: control characters, NUL, BOM, lone surrogates, bidi, injections, dates. */
export const SPECIAL_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uFEFF',
  '\uFEFFfacet',
  '\uD800',
  '\uDFFF',
  'x\uD83D',
  '\uDE00x',
  '😀',
  '\u202Egnp.exe',
  '\u2028\u2029',
  'e\u0301',
  '\u{10FFFF}',
  '\t\r\n',
  '\u001b[31m',
  '%00',
  '%ZZ',
  '../../etc/passwd',
  "'; DROP TABLE events; --",
  "o'brien",
  '"',
  '\\',
  `\${process.exit()}`,
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'null',
  'true',
  '-0',
  '1e400',
  'NaN',
  'Infinity',
  '0x1F',
  '2026-02-30T25:61:00Z',
  '0000-00-00T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '+275760-09-13T00:00:00.001Z',
  '1970-01-01T00:00:00Z',
  'javascript:alert(1)',
  'http://',
  'C:\\con\\aux',
  'A'.repeat(64),
  'ß'.repeat(33),
];

/** JSON number texts: beyond double range (1e400), negative zero, denormals, beyond 2^53, odd spellings. */
export const SPECIAL_NUMBERS: readonly string[] = [
  '1e400',
  '-1e400',
  '-0',
  '-0.0',
  '0e0',
  '1e-400',
  '5e-324',
  '1.7976931348623157e308',
  '9007199254740993',
  '-9007199254740993',
  '123456789012345678901234567890',
  '0.1',
  '1E2',
  '2147483648',
  '-2147483649',
  '4294967296',
  '1.5',
];

const WRONG_TYPES: readonly Json[] = [null, true, false, 0, 1, -1, '', [], {}, [null], { '': null }, [[]]];

const hugeString = fc
  .record({
    unit: fc.constantFrom('a', 'é', '\u0000', '😀', '\uD800', ' '),
    length: fc.constantFrom(101, 129, 257, 1_025, 2_049, 65_537, 300_000, 1_100_000),
  })
  .map(({ unit, length }) => unit.repeat(Math.ceil(length / unit.length)));

/** The characters most rules trip on, each on its own and inside a word. */
const CONTROL_STRINGS: readonly string[] = [
  '\u0000',
  'a\u0000b',
  '\uFEFF',
  '\uFEFFx',
  '\uD800',
  'x\uDC00',
  '\u2028',
  '\u001b',
  '\u007f',
  '\uFFFF',
];

/** A string to put where a valid one was. */
export const strangeString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...CONTROL_STRINGS) },
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

/** A value to put where a valid one was. */
export const strangeValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WRONG_TYPES) },
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 2, arbitrary: hugeString },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_NUMBERS).map((text) => new Raw(text)) },
  {
    weight: 2,
    arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat(100)),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

/** Keys worth adding: prototype pollution, credentials and organizations in a body, odd names. */
const STRANGE_KEYS: readonly string[] = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'access_token',
  'org',
  'id',
  'eventId',
  'kind',
  '',
  ' ',
  '\u0000',
  'a.b',
  'customData',
  '@odata.type',
  '$filter',
  'msdyn_conversationid',
  'k'.repeat(1_000),
];

const at = fc.nat({ max: 10_000 });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at, value: strangeValue }) },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('replaceString' as const), at, value: strangeString }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('nest' as const),
      at,
      depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 20_000 })),
      shape: fc.constantFrom('array' as const, 'object' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('selfNest' as const),
      at,
      inner: fc.nat(50),
      depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 10_000 })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('addKey' as const),
      at,
      key: fc.oneof(fc.constantFrom(...STRANGE_KEYS), fc.string({ maxLength: 12 })),
      value: strangeValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('deleteKey' as const), at, which: fc.nat(50) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('repeat' as const), at, times: fc.integer({ min: 0, max: 200 }) }),
  },
);

/** What a case puts in the body before encoding: a mutated seed, or random JSON. */
export type BodyPlan =
  | { kind: 'seed'; seed: number; mutations: Mutation[] }
  | { kind: 'random'; value: Json };

export const bodyPlan: fc.Arbitrary<BodyPlan> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('seed' as const),
      seed: fc.nat(),
      // Mostly one mutation: a single bad field gets past every other rule to the code that trips on it.
      mutations: fc.oneof(
        { weight: 1, arbitrary: fc.constant<Mutation[]>([]) },
        { weight: 6, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 1 }) },
        { weight: 3, arbitrary: fc.array(mutation, { minLength: 2, maxLength: 4 }) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      value: fc.oneof(fc.jsonValue({ maxDepth: 5 }), fc.object({ maxDepth: 3 })) as fc.Arbitrary<Json>,
    }),
  },
);

export function bodyValue(plan: BodyPlan, seeds: readonly Json[]): Json {
  if (plan.kind === 'random') return plan.value;
  let value = seeds[plan.seed % seeds.length] ?? null;
  for (const m of plan.mutations) value = mutate(value, m);
  return value;
}

// ---- encodings -------------------------------------------------------------------------------------

export type Encoding =
  | { kind: 'json'; contentType: string }
  | { kind: 'text'; contentType: string }
  | { kind: 'form'; contentType: string }
  | { kind: 'other'; contentType: string | null }
  | { kind: 'none'; contentType: string | null };

const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
];
const TEXT_TYPES = ['text/plain', 'text/plain;charset=UTF-8', 'text/plain; charset=utf-16'];
const FORM_TYPES = ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=UTF-8'];
const OTHER_TYPES: readonly (string | null)[] = [
  null,
  '',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/jsonx',
  'text/html',
  'application/merge-patch+json',
  'application/json-patch+json',
  'application/x-ndjson',
  ';;;',
  'application/json, text/plain',
];

/** Encodings, weighted towards the ones a route really takes (beacons only matter on the UA routes). */
export function encoding(beacons: boolean): fc.Arbitrary<Encoding> {
  return fc.oneof(
    {
      weight: beacons ? 5 : 9,
      arbitrary: fc.record({
        kind: fc.constant('json' as const),
        contentType: fc.constantFrom(...JSON_TYPES),
      }),
    },
    {
      weight: beacons ? 3 : 1,
      arbitrary: fc.record({
        kind: fc.constant('text' as const),
        contentType: fc.constantFrom(...TEXT_TYPES),
      }),
    },
    {
      weight: beacons ? 3 : 1,
      arbitrary: fc.record({
        kind: fc.constant('form' as const),
        contentType: fc.constantFrom(...FORM_TYPES),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('other' as const),
        contentType: fc.constantFrom(...OTHER_TYPES),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('none' as const),
        contentType: fc.constantFrom(
          null,
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
        ),
      }),
    },
  );
}

/** Percent-encoding of the UTF-8 bytes (encodeURIComponent throws on a lone surrogate; this writes U+FFFD). */
function formEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The body's text under an encoding; `formField` is where a UA beacon carries its event (`customEvent`). */
export function encodeBody(value: Json, how: Encoding, formField: string | undefined): string | undefined {
  if (how.kind === 'none') return undefined;
  const text = encode(value);
  if (how.kind !== 'form') return text;
  if (formField) return `${formField}=${formEncode(text)}`;
  if (isObject(value)) {
    return Object.keys(value)
      .map((key) => {
        const field = value[key] as Json;
        return `${formEncode(key)}=${formEncode(typeof field === 'string' ? field : encode(field))}`;
      })
      .join('&');
  }
  return `value=${formEncode(text)}`;
}

// ---- bytes -----------------------------------------------------------------------------------------

/** Byte sequences that are not UTF-8 (or are, oddly): a stray continuation, overlongs, a surrogate, a cut. */
const BAD_BYTES: readonly number[][] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  // Valid, but worth sending raw: a NUL, a BOM.
  [0x00],
  [0xef, 0xbb, 0xbf],
];

export type ByteEdit =
  | { op: 'insert'; at: number; inString: boolean; bytes: number[] }
  | { op: 'cut'; at: number }
  | { op: 'bom' };

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat({ max: 100_000 }),
      inString: fc.boolean(),
      bytes: fc.constantFrom(...BAD_BYTES),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cut' as const), at: fc.nat({ max: 100_000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bom' as const) }) },
);

/** Applies byte edits; an insertion `inString` lands just after a quote, so inside a key or a string. */
export function editBytes(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let current = Buffer.from(bytes);
  for (const edit of edits) {
    if (edit.op === 'bom') {
      current = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), current]);
    } else if (edit.op === 'cut') {
      current = current.subarray(0, edit.at % (current.length + 1));
    } else {
      let position = edit.at % (current.length + 1);
      if (edit.inString) {
        const quotes: number[] = [];
        for (let i = 0; i < current.length; i++) if (current[i] === 0x22) quotes.push(i + 1);
        if (quotes.length > 0) position = quotes[edit.at % quotes.length] as number;
      }
      current = Buffer.concat([
        current.subarray(0, position),
        Buffer.from(edit.bytes),
        current.subarray(position),
      ]);
    }
  }
  return new Uint8Array(current);
}

/** The classes of strangeness in a case, to tell one defect from another: `nest`, `NUL`, `bytes:ff`, … */
export function featuresOf(plan: BodyPlan, how: Encoding, edits: readonly ByteEdit[]): string[] {
  const features = new Set<string>();
  if (plan.kind === 'random') features.add('random JSON');
  else {
    for (const m of plan.mutations) {
      // Shallow nesting is ordinary; deep nesting (any shape) is one feature.
      if (m.op === 'nest' || m.op === 'selfNest') features.add(m.depth > 64 ? 'deep nesting' : 'nesting');
      else if (m.op === 'repeat') features.add('repeat');
      else if (m.op === 'deleteKey') features.add('deleteKey');
      else if (m.op === 'replaceString') features.add(valueFeature(m.value));
      else {
        if (m.op === 'addKey')
          features.add(m.key === '__proto__' || m.key === 'constructor' ? `key:${m.key}` : 'addKey');
        features.add(valueFeature(m.value));
      }
    }
  }
  if (how.kind !== 'json') features.add(`encoding:${how.kind}`);
  for (const edit of edits) {
    if (edit.op !== 'insert') features.add(`bytes:${edit.op}`);
    else
      features.add(
        isUtf8(new Uint8Array(edit.bytes))
          ? `bytes:${Buffer.from(edit.bytes).toString('hex')}`
          : 'invalid UTF-8',
      );
  }
  return [...features].sort();
}

function valueFeature(value: Json): string {
  if (value instanceof Raw) return `number:${value.text}`;
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'string:NUL';
    if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value))
      return 'string:lone surrogate';
    if (value.length > 2_000) return 'string:huge';
    if (value.includes('\uFEFF')) return 'string:BOM';
    return 'string';
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : typeof value;
}
