/** `@openua/sdk` for bundlers and browsers (ESM and CJS, platform neutral); Node gets node.ts. */
export {
  type ChannelClient,
  type ChannelOptions,
  createChannelClient,
  type InitData,
  type KpiEventFields,
  type LogData,
} from './channel.ts';
export { type CIFrameworkAnalytics, installCIFramework } from './cif.ts';
export { type Client, type ClientOptions, createClient, type Logged } from './client.ts';
export { BATCH_PATH, type DeliveryOptions } from './delivery.ts';
export { createDesktop, type Desktop, type DesktopOptions, type DesktopPlace } from './desktop.ts';
export { OpenUAError } from './errors.ts';
export { browserIdentity, type IdentityStore, memoryIdentity } from './identity.ts';
export { newId } from './ids.ts';
export { MemoryQueue, type PersistentQueue } from './queue.ts';
export { IndexedDbQueue } from './queue-indexeddb.ts';
export type * from './types.ts';
