/**
 * What an aggregation means, whatever engine computes it: both engines read these so that they give the same
 * answers.
 */

/** The quantile measures and the level each interpolates at (DuckDB's quantile_cont). */
export const QUANTILES = { p50: 0.5, p90: 0.9, p99: 0.99 } as const;

/**
 * Zones that are UTC all year, where a time bucket is a plain truncation; every other zone's buckets follow its
 * wall clock (and its changes of offset).
 */
export const UTC_ZONES: ReadonlySet<string> = new Set([
  'UTC',
  'Etc/UTC',
  'Etc/GMT',
  'GMT',
  'Etc/UCT',
  'UCT',
  'Etc/Universal',
  'Universal',
  'Etc/Zulu',
  'Zulu',
]);
