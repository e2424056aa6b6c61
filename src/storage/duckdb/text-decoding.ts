import { createRequire } from 'node:module';

/**
 * Text read from DuckDB exactly as it was stored. @duckdb/node-api decodes every VARCHAR with one shared
 * `new TextDecoder()`, whose default drops a leading U+FEFF (a byte order mark): the store keeps
 * `"\ufeff"`, and reading it answered `""`, so an event type acknowledged as one character came back empty.
 * Decoding with `ignoreBOM: true` keeps the mark as the text it is. The library reads the decoder from its
 * module's exports at each call, so replacing it there applies to every read, including those of
 * VARIANT values.
 */
const accessors = createRequire(import.meta.url)('@duckdb/node-api/lib/vectors/dataAccessors.js') as {
  textDecoder?: TextDecoder;
};
if (!(accessors.textDecoder instanceof TextDecoder)) {
  throw new Error(
    '@duckdb/node-api no longer exports its text decoder: check that a leading U+FEFF survives a read (src/storage/duckdb/text-decoding.ts)',
  );
}
accessors.textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
