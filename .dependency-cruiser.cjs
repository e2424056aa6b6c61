/**
 * The layers of src/, bottom to top (docs/design/architecture.md). A folder may import its own layer and any layer
 * below it, never one above: `npm test` runs `npm run layers`, and a change that imports upward fails, naming the
 * rule (`layer-<from>`) and the import.
 */
const LAYERS = [
  ['core', 'errors and their codes, validation, json, config, log, the error answer'],
  [
    'model',
    'the canonical event, event ids, time derivation, ingest settings, customData rules, language tags',
  ],
  ['storage', 'the storage contract and one implementation per engine'],
  ['kpi', 'the KPI catalogue: what each KPI measures, its unit and parameters'],
  ['ingest', 'the group-commit writer, the ingest log, intake, idempotency, rejections'],
  ['orgs', 'organizations and their settings'],
  ['auth', 'API keys, search tokens, credentials, identity'],
  ['query', 'the query API, dimensions, insights'],
  ['ua', "Coveo's UA Write API"],
  ['channel', 'Channel Analytics: the JS API, OData entities, KPI events'],
  ['batch', 'the batch route, over the UA and Channel Analytics kinds'],
  ['alerts', 'breach rules, alerts, webhooks'],
  ['forecast', 'arrivals forecast and Erlang C staffing, over the query API'],
  ['privacy', "retention, a person's erasure and export, the audit log"],
  ['export', 'raw export of events as CSV, NDJSON or Parquet'],
  ['backup', 'backup and restore of a store'],
  ['admin', 'the admin API: organizations and keys'],
  ['http', 'the Fastify app: assembly, hooks, CORS, metrics'],
  ['startup', 'building every part over one store'],
  ['demo', 'the seeded demo month and what loads it into a store or a running server'],
  ['cli', 'the openua command'],
];

const names = LAYERS.map(([name]) => name);

module.exports = {
  forbidden: [
    ...names.slice(0, -1).map((name, i) => ({
      name: `layer-${name}`,
      comment: `src/${name}/ (${LAYERS[i][1]}) may not import a layer above it: ${names.slice(i + 1).join(', ')}`,
      severity: 'error',
      from: { path: `^src/${name}/` },
      to: { path: `^src/(${names.slice(i + 1).join('|')})/` },
    })),
    {
      name: 'layer-unknown',
      comment: 'every folder of src/ is a layer: add a new one to LAYERS in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${names.join('|')})/` },
      to: {},
    },
    {
      name: 'src-not-tests',
      comment: 'the server does not import tests, benches, scripts or examples',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts|examples)/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle between files (a cycle between folders is already an upward import)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
