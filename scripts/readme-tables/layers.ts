import { createRequire } from 'node:module';

/**
 * The layers of src/ as .dependency-cruiser.cjs writes them down (the order `npm run layers` enforces), drawn for
 * docs/design/architecture.md. The order is read from the rule that names every layer (`layer-unknown`), so the
 * drawing is the one the check uses.
 */

interface Rule {
  name: string;
  from: { pathNot?: string };
}

/** The layers, bottom first. */
export function layers(): string[] {
  const config = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as { forbidden: Rule[] };
  const every = config.forbidden.find((rule) => rule.name === 'layer-unknown')?.from.pathNot;
  const names = every && /^\^src\/\(([a-z|]+)\)\/$/.exec(every)?.[1]?.split('|');
  if (!names) throw new Error('.dependency-cruiser.cjs has no layer-unknown rule naming every layer');
  return names;
}

export function layersDiagram(): string {
  const names = layers().map((name) => `${name}/`);
  const width = Math.max(...names.map((n) => n.length));
  const top = names.length - 1;
  const lines = names
    .map((name, i) => {
      const note =
        i === top ? 'the top: no layer imports it' : i === 0 ? 'the bottom: it imports no layer' : '';
      return `${name.padEnd(width)}  ${note}`.trimEnd();
    })
    .reverse();
  return [
    '```',
    lines.join('\n  │\n'),
    '',
    'Each layer may import the layers below it, and none above it.',
    '```',
  ].join('\n');
}
