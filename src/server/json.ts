import sjson from 'secure-json-parse';

/**
 * JSON.parse for bodies OpenUA parses itself (text/plain, beacon fields), with the same refusal of
 * `__proto__` and `constructor.prototype` keys that Fastify applies to application/json, so every body
 * shape is equally safe to copy into plain objects.
 */
export const parseJson = (text: string): unknown =>
  sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
