import net from 'node:net';

/**
 * A TCP relay between a client and an OpenUA server, so a test can take the server away and bring it
 * back (even as a new process on another port) while the client keeps its endpoint, and can lose an
 * answer after the server has processed the request: what a client meets on a real network.
 */
export interface Relay {
  /** The endpoint to give the client. */
  url: string;
  /** Where connections go (an OpenUA's URL), or nowhere: each is then cut at once, as by a refused connection. */
  to(url: string | undefined): void;
  /**
   * Cut the next `count` answers before they reach the client (the server has processed the requests), and
   * call `then` once they are cut.
   */
  loseAnswers(count: number, then?: () => void): void;
  /** When each request started (ms since the epoch). */
  requests: number[];
  /** Each request as above, with the credential it carried (its Authorization's token), to tell clients apart. */
  sent: { at: number; credential?: string }[];
  /**
   * Each answer that reached the client: when, its status, its Retry-After (seconds), and the credential of the
   * request on its connection that it answers.
   */
  answers: { at: number; status: number; retryAfter?: number; credential?: string }[];
  /** How many answers were cut. */
  lost(): number;
  close(): Promise<void>;
}

export async function startRelay(target?: string): Promise<Relay> {
  let upstream = target ? new URL(target) : undefined;
  let losing = 0;
  let lost = 0;
  let whenLost: (() => void) | undefined;
  const requests: number[] = [];
  const sent: Relay['sent'] = [];
  const answers: Relay['answers'] = [];
  const sockets = new Set<net.Socket>();
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (!upstream) {
      client.destroy();
      return;
    }
    const server = net.connect(Number(upstream.port), upstream.hostname);
    sockets.add(server);
    server.on('close', () => {
      sockets.delete(server);
      client.destroy();
    });
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    // HTTP/1.1 answers in order on a connection: the oldest request not yet answered is the one answered.
    const pending: (string | undefined)[] = [];
    client.on('data', (chunk) => {
      const head = chunk.toString('latin1');
      if (/^[A-Z]+ \//.test(head.slice(0, 16))) {
        const credential = /\r\nauthorization: *bearer (\S+)/i.exec(head.split('\r\n\r\n')[0] ?? '')?.[1];
        const at = Date.now();
        requests.push(at);
        sent.push({ at, ...(credential && { credential }) });
        pending.push(credential);
      }
      server.write(chunk);
    });
    server.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d+)/.exec(text)?.[1];
      if (status && losing > 0) {
        losing--;
        lost++;
        client.destroy();
        server.destroy();
        if (losing === 0) whenLost?.();
        return;
      }
      if (status) {
        const retryAfter = /\r\nretry-after: *(\d+)/i.exec(text.split('\r\n\r\n')[0] ?? '')?.[1];
        const credential = pending.shift();
        answers.push({
          at: Date.now(),
          status: Number(status),
          ...(retryAfter && { retryAfter: Number(retryAfter) }),
          ...(credential && { credential }),
        });
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sent,
    answers,
    lost: () => lost,
    to(url) {
      upstream = url ? new URL(url) : undefined;
      cut();
    },
    loseAnswers(count, then) {
      losing = count;
      whenLost = then;
    },
    close() {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
