import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logDestination, prettyLine } from '../../src/core/log.ts';

/** Log lines for people on a terminal, JSON elsewhere (OPENUA_LOG_FORMAT, `auto` by default). */

/** A stand-in for stdout that keeps what is written. */
function terminal(isTTY: boolean) {
  const written: string[] = [];
  const out = { isTTY, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WriteStream;
  return { out, written };
}

const LINE = JSON.stringify({
  level: 30,
  time: Date.UTC(2026, 10, 30, 9, 5, 7, 42),
  pid: 1,
  hostname: 'h',
  msg: 'OpenUA listening on http://127.0.0.1:8080',
  reqId: 'req-1',
  route: '/a b',
});

describe('log format', () => {
  it('auto: JSON (pino writes to stdout itself) when stdout is not a terminal, readable lines when it is', () => {
    assert.equal(logDestination('auto', terminal(false).out), undefined);
    assert.equal(logDestination('json', terminal(true).out), undefined);
    const { out, written } = terminal(true);
    logDestination('auto', out)?.write(LINE);
    assert.equal(written.length, 1);
    assert.ok(!(written[0] as string).startsWith('{'));
  });

  it('pretty: the time, the level, the message, then the other fields as key=value; no pid or hostname', () => {
    const line = prettyLine(LINE, false);
    assert.match(
      line,
      /^\d\d:\d\d:\d\d\.042 INFO {2}OpenUA listening on http:\/\/127\.0\.0\.1:8080 reqId=req-1 route="\/a b"\n$/,
    );
    assert.ok(!line.includes('hostname') && !line.includes('pid'));
  });

  it('an error carries its stack below the line, indented; colours only when asked', () => {
    const line = prettyLine(
      JSON.stringify({
        level: 50,
        time: 0,
        msg: 'unexpected error',
        err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' },
      }),
      true,
    );
    const ESC = String.fromCharCode(27);
    assert.ok(
      line.includes(`${ESC}[31mERROR${ESC}[0m unexpected error\n    Error: boom\n        at x\n`),
      line,
    );
    assert.equal(prettyLine('not json', false), 'not json\n');
  });
});
