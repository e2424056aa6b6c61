import { isUuid, newId } from './ids.ts';

/** Where a client keeps its visitor id (`clientId`) between pages or runs. */
export interface IdentityStore {
  get(): string | undefined;
  set(clientId: string): void;
}

/** The official client's names: localStorage `visitorId`, and the cookie `coveo_` + that key. */
const KEY = 'visitorId';
const COOKIE = `coveo_${KEY}`;
const YEAR_MS = 31_556_926_000;

/**
 * The browser's store, as coveo.analytics keeps it, so a page that used the official client keeps its
 * visitor: read from localStorage or the `coveo_visitorId` cookie (also the one OpenUA sets on its own host),
 * written to both. The cookie is the site's (the host's last two labels, as the official client writes it),
 * or the host's alone when it has no dot or is an IP address.
 */
export function browserIdentity(): IdentityStore {
  return {
    get() {
      let stored: string | null | undefined;
      try {
        stored = localStorage.getItem(KEY);
      } catch {}
      return stored || new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]*)`).exec(document.cookie)?.[1];
    },
    set(clientId) {
      try {
        localStorage.setItem(KEY, clientId);
      } catch {}
      const host = location.hostname;
      const site = /^[\d.]+$|^[^.]*$/.test(host) ? '' : `;domain=${host.split('.').slice(-2).join('.')}`;
      // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is async and missing from some browsers; the id is a UUID, nothing to escape
      document.cookie = `${COOKIE}=${clientId};expires=${new Date(Date.now() + YEAR_MS).toUTCString()}${site};path=/;SameSite=Lax`;
    },
  };
}

/** A process's store that keeps nothing: a new visitor each run (Node's default without `clientIdFile`). */
export function memoryIdentity(): IdentityStore {
  let clientId: string | undefined;
  return {
    get: () => clientId,
    set: (id) => {
      clientId = id;
    },
  };
}

/** The stored visitor id, or a new one, stored: a value that is not a UUID would have every event refused. */
export function clientIdFrom(store: IdentityStore): string {
  const stored = store.get();
  if (isUuid(stored)) return stored;
  const clientId = newId();
  store.set(clientId);
  return clientId;
}
