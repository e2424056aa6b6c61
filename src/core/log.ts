import type { DestinationStream } from 'pino';
import type { LogFormat } from './config.ts';

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO ', color: '\x1b[32m' },
  40: { name: 'WARN ', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[35m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** pino's own fields, shown in the line's frame or not at all. */
const FRAME = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err']);

const value = (v: unknown) => (typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v));

/**
 * One pino JSON line as a line for people: `12:00:01.234 INFO  message key=value …`, and an error's stack
 * below it, indented. A line that is not pino's JSON is passed through as it is.
 */
export function prettyLine(line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = LEVELS[Number(record.level)] ?? { name: String(record.level), color: '' };
  const time = new Date(Number(record.time ?? Date.now())).toTimeString().slice(0, 8);
  const millis = String(new Date(Number(record.time ?? Date.now())).getMilliseconds()).padStart(3, '0');
  const fields = Object.entries(record)
    .filter(([key]) => !FRAME.has(key))
    .map(([key, v]) => `${key}=${value(v)}`);
  const err = record.err as { type?: string; message?: string; stack?: string } | undefined;
  const paint = (text: string, code: string) => (color && code ? `${code}${text}${RESET}` : text);
  const head = [
    paint(`${time}.${millis}`, DIM),
    paint(level.name, level.color),
    String(record.msg ?? ''),
    ...(fields.length > 0 ? [paint(fields.join(' '), DIM)] : []),
  ].join(' ');
  const stack = err?.stack ?? (err?.message ? `${err.type ?? 'Error'}: ${err.message}` : undefined);
  return `${head}\n${stack ? `${stack.replace(/^/gm, '    ')}\n` : ''}`;
}

/**
 * Where pino writes: undefined (stdout, JSON) unless the format is `pretty`, or `auto` on a terminal, where each
 * line is rewritten for people by prettyLine. No transport and no worker thread: the lines are few there.
 */
export function logDestination(
  format: LogFormat,
  out: NodeJS.WriteStream = process.stdout,
): DestinationStream | undefined {
  const pretty = format === 'pretty' || (format === 'auto' && out.isTTY === true);
  if (!pretty) return undefined;
  const color = out.isTTY === true && !process.env.NO_COLOR;
  return { write: (line: string) => void out.write(prettyLine(line, color)) };
}
