import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { README, TABLES, tablesIn } from '../../scripts/readme-tables.ts';

describe('the README tables that repeat the code', () => {
  const readme = readFileSync(README, 'utf8');

  it('has a place for every table the code renders', () => {
    assert.deepEqual(tablesIn(readme).sort(), Object.keys(TABLES).sort());
  });

  for (const name of Object.keys(TABLES)) {
    it(`${name}: is what the code says (run \`npm run docs:tables\` after changing it)`, () => {
      // Each table on its own, so one that cannot be rendered fails alone.
      const block = readme.split(`<!-- table:${name} -->`)[1]?.split('<!-- /table -->')[0];
      assert.equal(block, `\n\n${TABLES[name]?.()}\n\n`);
    });
  }
});
