import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/**
 * What the request log says about a request. Beacons carry their credential as `?access_token=` (the only way a
 * page can send one with `navigator.sendBeacon`), so a URL is never logged as it came: the value of every
 * `access_token` parameter, whatever its case or encoding, is replaced by `[redacted]`.
 */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const query = url
    .slice(start + 1)
    .split('&')
    .map((part) => {
      const end = part.indexOf('=');
      const name = end < 0 ? part : part.slice(0, end);
      return nameOf(name) === 'access_token' ? `${name}=[redacted]` : part;
    });
  return `${url.slice(0, start)}?${query.join('&')}`;
}

function nameOf(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/** Fastify's request serializer (pino's `req`), with the URL redacted. Headers are never logged. */
export const requestSerializer = (request: FastifyRequest) => ({
  method: request.method,
  url: redactUrl(request.url),
  host: request.host,
  remoteAddress: request.ip,
  remotePort: request.socket?.remotePort,
});

/**
 * One line when a request comes in and one when it is answered, at `debug` (`OPENUA_LOG_LEVEL=debug`): at the
 * default `info` a line per request would cost more than the event itself. Fastify's other per-request lines
 * stay off; errors are logged by the error handler.
 */
export class RequestLog extends LogController {
  constructor() {
    super({ disableRequestLogging: true });
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    _request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    reply.log.debug(
      { res: reply, responseTime: reply.elapsedTime, ...(error && { err: error }) },
      error ? 'request errored' : 'request completed',
    );
  }
}
