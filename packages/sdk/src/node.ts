/**
 * `@openua/sdk` in Node: everything index.ts exports, with a `createClient` that also keeps its queue and
 * its visitor id in files, so a service's restart loses no event and stays one visitor.
 */
import { type Client, type ClientOptions, createClient as createBaseClient } from './client.ts';
import { fileIdentity } from './identity-file.ts';
import { FileQueue } from './queue-file.ts';

export { fileIdentity } from './identity-file.ts';
export * from './index.ts';
export { FileQueue } from './queue-file.ts';

export interface NodeClientOptions extends ClientOptions {
  /** Keep the queue in this file (see FileQueue): what a run could not send, the next one sends. */
  queueFile?: string;
  /** Keep the visitor id in this file, so every run is the same visitor. */
  clientIdFile?: string;
}

export function createClient(options: NodeClientOptions): Client {
  const { queueFile, clientIdFile } = options;
  return createBaseClient({
    ...options,
    queue: options.queue ?? (queueFile === undefined ? undefined : new FileQueue(queueFile)),
    identity: options.identity ?? (clientIdFile === undefined ? undefined : fileIdentity(clientIdFile)),
  });
}
