/** `openua.js`: everything, as `window.OpenUA`. */
import { createChannelClient } from './channel.ts';
import { installCIFramework } from './cif.ts';
import { createClient } from './client.ts';
import { createDesktop } from './desktop.ts';
import { expose } from './expose.ts';

expose({ createClient, createChannelClient, installCIFramework, createDesktop });
