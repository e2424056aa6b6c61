import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { docFiles, shortName } from '../../scripts/readme-tables.ts';

/**
 * Every relative link of the documentation (README.md, CONTRIBUTING.md, docs/) points to a file or folder that
 * exists, and a link to a heading (`file.md#anchor`, `#anchor`) to a heading of that file, by GitHub's anchors.
 * Links to other sites are not followed.
 */

/** The text with its code blocks and code spans blanked: a link inside code is not a link. */
const withoutCode = (markdown: string) =>
  markdown
    .replace(/^```[\s\S]*?^```/gm, '')
    .replace(/(`+)[\s\S]*?\1/g, (span) => (span.includes('\n') ? '\n' : ''));

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens. */
const anchorOf = (heading: string) =>
  heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** The anchors of a Markdown file's headings; a repeated one gets `-1`, `-2`… as on GitHub. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of markdown.replace(/^```[\s\S]*?^```/gm, '').split('\n')) {
    const heading = /^#{1,6} +(.+?) *#* *$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const anchor = anchorOf(heading);
    const count = seen.get(anchor) ?? 0;
    seen.set(anchor, count + 1);
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`);
  }
  return anchors;
}

const LINK = /\[[^\]]*\]\(([^)\s]+)(?: +"[^"]*")?\)/g;

describe('the links of the documentation', () => {
  const files = docFiles();

  it('covers the README, CONTRIBUTING.md and docs/', () => {
    const names = files.map(shortName);
    for (const name of ['README.md', 'CONTRIBUTING.md', path.join('docs', 'api', 'ua-write.md')]) {
      assert.ok(names.includes(name), name);
    }
  });

  it('every page of docs/ is reachable from the README, link by link', () => {
    const reached = new Set<string>();
    const next = [files[0] as string];
    while (next.length > 0) {
      const file = next.pop() as string;
      if (reached.has(file)) continue;
      reached.add(file);
      for (const [, target] of withoutCode(readFileSync(file, 'utf8')).matchAll(LINK)) {
        const pathPart = target?.split('#')[0] ?? '';
        if (pathPart === '' || /^[a-z][a-z0-9+.-]*:/i.test(pathPart) || !pathPart.endsWith('.md')) continue;
        const linked = path.resolve(path.dirname(file), decodeURI(pathPart));
        if (files.includes(linked)) next.push(linked);
      }
    }
    assert.deepEqual(files.filter((file) => !reached.has(file)).map(shortName), []);
  });

  for (const file of files) {
    it(`${shortName(file)}: every relative link resolves`, () => {
      const text = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const [, target] of withoutCode(text).matchAll(LINK)) {
        if (target === undefined || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const [pathPart = '', anchor] = target.split('#');
        const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURI(pathPart));
        if (!existsSync(resolved)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor === undefined) continue;
        if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
          broken.push(`${target}: an anchor on something that is not a Markdown file`);
        } else if (!anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${target}: ${shortName(resolved)} has no heading #${anchor}`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});
