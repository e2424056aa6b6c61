/**
 * A browser bundle's exports, added to `window.OpenUA` rather than replacing it, so that a page may load
 * several bundles (`custom.js` and `cif.js`) in any order.
 */
export function expose(members: object): void {
  const global = globalThis as { OpenUA?: object };
  global.OpenUA = Object.assign(global.OpenUA ?? {}, members);
}
