import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { layers } from '../../scripts/readme-tables/layers.ts';

/**
 * The hand-written parts of docs/design/ that name the code's parts one by one: each list must name every part,
 * and no part that is gone. (The generated tables are test/docs/readme-tables.test.ts's.)
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The first cells of the rows of the first table after `heading`. */
function firstCells(markdown: string, heading: string): string[] {
  const after = markdown.split(`\n${heading}\n`)[1];
  assert.ok(after !== undefined, `no heading ${heading}`);
  const rows = after
    .split('\n\n')
    .map((block) => block.trim())
    .find((block) => block.startsWith('|'));
  assert.ok(rows, `no table under ${heading}`);
  return rows
    .split('\n')
    .slice(2)
    .map((row) => row.split('|')[1]?.trim() ?? '');
}

const codeSpans = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);

describe('the design pages', () => {
  it('storage-contract.md: the methods table names every member of Storage, once', () => {
    const source = read('src/storage/storage.ts');
    const body = /^export interface Storage \{\n([\s\S]*?)^\}/m.exec(source)?.[1];
    assert.ok(body, 'src/storage/storage.ts has no interface Storage');
    const members = [...body.matchAll(/^ {2}(?:readonly )?([A-Za-z]+)\??[(<:]/gm)].map((m) => m[1]);
    const documented = firstCells(read('docs/design/storage-contract.md'), '## The methods').flatMap(
      codeSpans,
    );
    assert.deepEqual([...documented].sort(), [...members].sort());
  });

  it('architecture.md: the layers table lists the layers of .dependency-cruiser.cjs, bottom first', () => {
    const listed = firstCells(read('docs/design/architecture.md'), '## Layers').map((cell) =>
      cell.replace(/^`(.*)\/`$/, '$1'),
    );
    assert.deepEqual(listed, layers());
  });
});
