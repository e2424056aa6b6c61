import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { docFiles, shortName, TABLES, tablesIn } from '../../scripts/readme-tables.ts';

describe('the documentation tables that repeat the code', () => {
  const docs = docFiles().map((file) => ({ file: shortName(file), text: readFileSync(file, 'utf8') }));

  it('has a place for every table the code renders', () => {
    assert.deepEqual(docs.flatMap((doc) => tablesIn(doc.text)).sort(), Object.keys(TABLES).sort());
  });

  for (const name of Object.keys(TABLES)) {
    const home = docs.find((doc) => tablesIn(doc.text).includes(name));
    it(`${name}${home ? ` (${home.file})` : ''}: is what the code says (run \`npm run docs:tables\` after changing it)`, () => {
      assert.ok(home, `no document has a place for the table ${name}`);
      // Each table on its own, so one that cannot be rendered fails alone.
      const block = home.text.split(`<!-- table:${name} -->`)[1]?.split('<!-- /table -->')[0];
      assert.equal(block, `\n\n${TABLES[name]?.()}\n\n`);
    });
  }
});
