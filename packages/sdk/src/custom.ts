/**
 * `custom.js`: `window.OpenUA.createClient` alone, for a search page (custom, search, click and view
 * events, with delivery). Its size is budgeted (5 KB gzip, checked in test/size.test.ts): nothing else
 * belongs here.
 */
import { createClient } from './client.ts';
import { expose } from './expose.ts';

expose({ createClient });
