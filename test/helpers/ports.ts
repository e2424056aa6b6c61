import { createServer } from 'node:net';

/**
 * A loopback port nothing listens on now, for a process the test starts. A random pick collided with the local
 * ports of outgoing connections (Linux takes them from 32768 up), so the system chooses one instead; it may still
 * be taken before the process binds it, which its caller retries.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
