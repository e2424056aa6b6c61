/**
 * The ceiling for `bench/ingest.ts`: a Fastify route that does only what every JSON endpoint must
 * (parse the body, serialise an answer of OpenUA's shape) and nothing OpenUA adds (auth, validation,
 * visits, the durable commit). Run by the bench as its own process: `PORT=<port> node --import tsx bench/bare-server.ts`.
 */
import Fastify from 'fastify';

const answer = {
  visitId: '0b7c3a52-6f4e-4d55-9a1e-3f1f5c2b8e01',
  visitorId: '5d2f7a10-8c3b-4e9a-b6d4-1e0f2a3b4c5d',
  clientId: '5d2f7a10-8c3b-4e9a-b6d4-1e0f2a3b4c5d',
};

const app = Fastify({ logger: false });

// Fastify has parsed the JSON body by the time the handler runs, so the body's cost is counted.
for (const kind of ['custom', 'search', 'click'])
  app.post(`/rest/ua/v15/analytics/${kind}`, async () => answer);

// bench/memory.ts floods both servers with batches: the bare one parses them and answers, as any route must.
app.post('/api/v1/events/batch', { bodyLimit: 5 * 1024 * 1024 }, async (request) => ({
  results: ((request.body as { events?: unknown[] }).events ?? []).map(() => ({ status: 'accepted' })),
}));

// The bench waits for the same readiness URL on both servers.
app.get('/rest/ua/v15/analytics/status', async () => ({ status: 'online' }));

const port = Number(process.env.PORT ?? 0);
await app.listen({ port, host: '127.0.0.1' });

const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
