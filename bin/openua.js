#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx, so there is no build step to forget.
import { register } from 'tsx/esm/api';

// DuckDB's allocator (its own jemalloc) keeps the pages it frees for seconds before it gives them back, which let
// a server under hostile traffic grow by 100 MB and more (npm run bench:memory, npm run fuzz). It reads this when
// DuckDB first allocates, after this line; a value set outside wins.
process.env.DUCKDB_JE_MALLOC_CONF ??= 'dirty_decay_ms:0,muzzy_decay_ms:0';

register();
const { main } = await import('../src/cli/main.ts');
await main();
