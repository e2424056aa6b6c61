import type { FastifyInstance } from 'fastify';

/** One route as Fastify registered it: `GET /api/v1/orgs/:org`. */
export interface RegisteredRoute {
  method: string;
  path: string;
}

/**
 * Every route the app serves, read from Fastify's own route tree (`printRoutes`), HEAD (added for each GET)
 * and the CORS plugin's `OPTIONS *` included. Nothing is listed by hand, so a new route shows up here.
 */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const segments: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4}|├── |└── )*)(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length / 4;
    segments.length = depth;
    segments[depth - 1] = match[2] as string;
    for (const method of match[3]?.split(', ') ?? []) routes.push({ method, path: segments.join('') });
  }
  return routes;
}

export const routeName = (route: RegisteredRoute) => `${route.method} ${route.path}`;
