import type { FastifyInstance } from 'fastify';
import { OpenUAError } from '../core/errors.ts';
import type { Rejections } from '../ingest/rejections.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Refusals of this event route are kept as rejections (GET /api/v1/rejections). */
    keepsRejections?: boolean;
  }
}

/**
 * Keeps what an event route refused (400, and 403 once the organization is known), with the body as
 * received minus any credential in it, so an analyst can see what was lost and why. A refusal before the
 * organization is known (no credential, a body that is not JSON) cannot be filed under one, and is not kept.
 */
export function installRejections(app: FastifyInstance, rejections: Rejections): void {
  app.addHook('onError', async (request, _reply, error) => {
    if (!request.routeOptions.config.keepsRejections || !request.org) return;
    if (!(error instanceof OpenUAError) || (error.statusCode !== 400 && error.statusCode !== 403)) return;
    const body = request.body;
    // A beacon carries its token in the form body; it is a secret, never kept.
    const payload =
      body !== null && typeof body === 'object' && 'access_token' in body
        ? { ...(body as Record<string, unknown>), access_token: '(removed)' }
        : body;
    rejections.record({
      org: request.org,
      route: request.routeOptions.url ?? request.url,
      item: null,
      receivedAt: new Date(),
      credentialId: request.credential?.id ?? '',
      payload,
      violations: error.violationList(),
    });
  });
}
