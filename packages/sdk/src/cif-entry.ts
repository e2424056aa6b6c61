/**
 * `cif.js`: the drop-in `Microsoft.CIFramework` for agent desktops, as `window.OpenUA.installCIFramework`,
 * with the channel client it is built on. Its size is budgeted (8 KB gzip, checked in test/size.test.ts).
 */
import { createChannelClient } from './channel.ts';
import { installCIFramework } from './cif.ts';
import { expose } from './expose.ts';

expose({ installCIFramework, createChannelClient });
