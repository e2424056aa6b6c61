/** A table cell: pipes escaped, on one line. */
export const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** A Markdown table. */
export const table = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/** Code spans, joined by commas: `a`, `b`. */
export const codes = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(', ');
