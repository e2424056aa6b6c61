import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IdentityStore } from './identity.ts';

/** A Node process's visitor id, kept in a file so that every run of a service is one visitor. */
export function fileIdentity(file: string): IdentityStore {
  return {
    get() {
      try {
        return readFileSync(file, 'utf8').trim();
      } catch {
        return undefined;
      }
    },
    set(clientId) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${clientId}\n`);
    },
  };
}
