import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  type BodyPlan,
  type ByteEdit,
  bodyPlan,
  bodyValue,
  byteEdit,
  type Encoding,
  editBytes,
  encodeBody,
  encoding,
  featuresOf,
  nodesOf,
} from './bodies.ts';
import { type FuzzAnswer, type FuzzRequest, send, showRequest, verdict } from './requests.ts';
import type { Fixtures, FuzzTarget } from './targets.ts';

/**
 * The fuzz loop: fast-check draws cases (a route, a credential, a body plan, an encoding, byte edits, a query
 * string), each is sent over real HTTP, and the answer is judged (requests.ts `verdict`). A failure is shrunk to
 * a small request. The run then goes on with the next seed, so one run reports every distinct defect it meets,
 * not only the first: a failure is "known" when it is answered the same way as a finding already shrunk and
 * shares one of its telling features (deep nesting, a NUL, bytes that are not UTF-8…), on the same route for
 * a 5xx, on any route for the body parser's defects (see sameDefect). Known failures are counted, not shrunk.
 */

export interface FuzzCase {
  target: number;
  credential: 'master' | 'write';
  body: BodyPlan;
  encoding: Encoding;
  bytes: ByteEdit[];
  query: number;
  idempotencyKey: string | null;
}

/** Query strings added to the route's own: organizations, visitors, credentials where they do not belong. */
const EXTRA_QUERIES = [
  '',
  'org=default',
  'org=fuzz',
  'org=%00',
  'org=no-such-org',
  'visitor=not-a-uuid',
  'prioritizeVisitorParameter=true&visitor=7d5f0a4e-1c1b-4b7e-9e55-8a0b3c0d1e2f',
  'access_token=not-a-token',
  'org=default&org=fuzz',
  '%ZZ=1',
];

export function caseArbitrary(targets: readonly FuzzTarget[]): fc.Arbitrary<FuzzCase> {
  // A route with a richer body has more to get wrong: it is drawn more often (one more draw per 10 nodes).
  const slots = targets.flatMap((target, index) => {
    const nodes = Math.max(...target.seeds.map((seed) => nodesOf(seed).length));
    return Array.from({ length: 1 + Math.floor(nodes / 10) }, () => index);
  });
  return fc.constantFrom(...slots).chain((target) =>
    fc.record({
      target: fc.constant(target),
      // Mostly the master key, which every route lets through to its code; now and then the write-only key.
      credential: fc.oneof(
        { weight: 7, arbitrary: fc.constant('master' as const) },
        { weight: 1, arbitrary: fc.constant('write' as const) },
      ),
      body: bodyPlan,
      encoding: encoding(targets[target]?.beacon !== undefined),
      bytes: fc.oneof(
        { weight: 5, arbitrary: fc.constant<ByteEdit[]>([]) },
        { weight: 1, arbitrary: fc.array(byteEdit, { minLength: 1, maxLength: 2 }) },
      ),
      query: fc.oneof(
        { weight: 6, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.nat({ max: EXTRA_QUERIES.length - 1 }) },
      ),
      idempotencyKey: fc.oneof(
        { weight: 6, arbitrary: fc.constant(null) },
        {
          weight: 1,
          arbitrary: fc
            .string({ unit: 'binary-ascii', maxLength: 200 })
            .map((s) => s.replace(/[^\x20-\x7e]/g, 'x')),
        },
      ),
    }),
  );
}

/** The request a case stands for. */
export function requestOf(fixtures: Fixtures, c: FuzzCase): FuzzRequest {
  const target = fixtures.targets[c.target] as FuzzTarget;
  const value = bodyValue(c.body, target.seeds);
  const text = encodeBody(value, c.encoding, target.beacon?.formField);
  const headers: Record<string, string> = {
    authorization: `Bearer ${fixtures.keys[c.credential]}`,
    ...target.headers,
  };
  if (c.encoding.contentType !== null) headers['content-type'] = c.encoding.contentType;
  if (c.idempotencyKey !== null) headers['idempotency-key'] = c.idempotencyKey;
  const extra = EXTRA_QUERIES[c.query] ?? '';
  const path = extra ? `${target.path}${target.path.includes('?') ? '&' : '?'}${extra}` : target.path;
  const body = text === undefined ? undefined : editBytes(Buffer.from(text, 'utf8'), c.bytes);
  return { method: target.method, path, headers, ...(body !== undefined && { body }) };
}

export interface Finding {
  route: string;
  problem: string;
  /** The strangeness in the shrunk case: what tells this defect from others on the same route. */
  features: string[];
  request: FuzzRequest;
  answer: FuzzAnswer;
  /** To replay: `FUZZ_SEED=<seed> FUZZ_PATH=<path> npm run fuzz`. */
  seed: number;
  path: string;
  /** Failures met later that were this one again (same route, problem and features). */
  seen: number;
  /** Every route it was met on (the body parser's and the error handler's defects are every route's). */
  routes: Set<string>;
}

export interface FuzzOptions {
  url: string;
  fixtures: Fixtures;
  /** Cases to draw in all (shrinking steps not counted). */
  numRuns: number;
  seed: number;
  /** Replays one counterexample (fast-check's path) instead of a run. */
  path?: string;
  /** Requests spent shrinking one failure, at most. */
  shrinkBudget?: number;
  /** Stop after this many distinct findings. */
  maxFindings?: number;
  /** Cases in flight at once (independent seed streams); 1 keeps a run exactly reproducible from its seed. */
  concurrency?: number;
  onProgress?: (progress: { cases: number; findings: number; shrinking: boolean }) => void;
  onFinding?: (finding: Finding) => void;
}

export interface FuzzReport {
  cases: number;
  requests: number;
  findings: Finding[];
  elapsedMs: number;
  rounds: { seed: number; cases: number }[];
}

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const shared: Shared = { findings: [], cases: 0, requests: 0, rounds: [], stopped: false };
  const workers = options.path === undefined ? Math.max(1, options.concurrency ?? 1) : 1;
  // Each worker draws its own stream of seeds and its share of the cases; findings are shared, so that one
  // worker's finding is known to the others.
  await Promise.all(
    Array.from({ length: workers }, (_, i) =>
      fuzzWorker(
        options,
        shared,
        i === 0 ? options.seed : nextSeed(options.seed + i),
        shareOf(options.numRuns, workers, i),
      ),
    ),
  );
  return {
    cases: shared.cases,
    requests: shared.requests,
    findings: shared.findings,
    elapsedMs: Date.now() - started,
    rounds: shared.rounds,
  };
}

interface Shared {
  findings: Finding[];
  cases: number;
  requests: number;
  rounds: { seed: number; cases: number }[];
  stopped: boolean;
}

const shareOf = (total: number, workers: number, i: number) =>
  Math.floor(total / workers) + (i < total % workers ? 1 : 0);

/** The next round's seed, derived from the last, so that a run is reproducible from its first seed. */
const nextSeed = (seed: number) => (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) & 0x7fffffff;

async function fuzzWorker(options: FuzzOptions, shared: Shared, firstSeed: number, numRuns: number) {
  const { fixtures, url } = options;
  const arbitrary = caseArbitrary(fixtures.targets);
  const shrinkBudget = options.shrinkBudget ?? 150;
  let seed = firstSeed;
  let cases = 0;
  while (cases < numRuns && !shared.stopped) {
    let drawn = 0;
    let shrinking = false;
    let shrinkSteps = 0;
    let failing: Omit<Finding, 'seed' | 'path' | 'seen' | 'routes'> | undefined;
    const property = fc.asyncProperty(arbitrary, async (c) => {
      // Past the budget, every further shrink candidate is taken as passing, unsent: the last failure stands.
      if (shrinking && shrinkSteps >= shrinkBudget) return true;
      if (!shrinking && shared.stopped) return true;
      const request = requestOf(fixtures, c);
      const answer = await send(url, request);
      shared.requests++;
      if (shrinking) shrinkSteps++;
      else {
        drawn++;
        shared.cases++;
        options.onProgress?.({ cases: shared.cases, findings: shared.findings.length, shrinking: false });
      }
      const problem = verdict(request, answer);
      if (problem === undefined) return true;
      const route = (fixtures.targets[c.target] as FuzzTarget).route;
      const features = featuresOf(c.body, c.encoding, c.bytes);
      if (!shrinking) {
        const known = shared.findings.find((f) => sameDefect(f, route, problem, features));
        if (known) {
          known.seen++;
          return true;
        }
        shrinking = true;
        options.onProgress?.({ cases: shared.cases, findings: shared.findings.length, shrinking: true });
      } else if (failing && (route !== failing.route || problem !== failing.problem)) {
        // Shrinking keeps to the defect it started from.
        return true;
      }
      failing = { route, problem, features, request, answer };
      return false;
    });
    const details = await fc.check(property, {
      seed,
      numRuns: options.path === undefined ? numRuns - cases : 1,
      ...(options.path !== undefined && { path: options.path }),
      endOnFailure: false,
    });
    cases += drawn;
    shared.rounds.push({ seed, cases: drawn });
    if (details.failed && failing) {
      // Another worker may have shrunk the same defect meanwhile.
      const known = shared.findings.find((f) =>
        sameDefect(f, failing?.route ?? '', failing?.problem ?? '', failing?.features ?? []),
      );
      if (known) known.seen++;
      else {
        const finding: Finding = {
          ...failing,
          seed: details.seed,
          path: details.counterexamplePath ?? '',
          seen: 0,
          routes: new Set([failing.route]),
        };
        shared.findings.push(finding);
        options.onFinding?.(finding);
      }
      if (options.path !== undefined || shared.findings.length >= (options.maxFindings ?? 50)) {
        shared.stopped = true;
        break;
      }
      seed = nextSeed(seed);
      continue;
    }
    if (details.failed && details.errorInstance) throw details.errorInstance;
    break;
  }
}

/**
 * Features that do not tell defects apart: how the body was sent, a BOM, an ordinary string or a key added or
 * taken away. A failure is a known finding again when it is on the same route, answered the same way, and
 * shares one of its telling features (or, with none, has all of its others).
 */
const WEAK =
  /^(encoding:|bytes:bom$|nesting$|string$|addKey$|deleteKey$|repeat$|random JSON$|null$|boolean$|number$|array$|object$)/;

function sameDefect(finding: Finding, route: string, problem: string, features: readonly string[]): boolean {
  if (finding.problem.replace(/^\d+/, '') !== problem.replace(/^\d+/, '')) return false;
  // A 5xx is a defect of the route's own code; a body that is not UTF-8 accepted, or a refusal without its
  // code, is one of the body parser or the error handler, shared by every route: one finding, on many routes.
  if (finding.route !== route) {
    if (/^5|^no answer/.test(problem)) return false;
    const telling = finding.features.filter((f) => !WEAK.test(f));
    const same = telling.length > 0 ? telling.some((f) => features.includes(f)) : true;
    if (same) finding.routes.add(route);
    return same;
  }
  const telling = finding.features.filter((f) => !WEAK.test(f));
  if (telling.length > 0) return telling.some((f) => features.includes(f));
  return finding.features.every((f) => features.includes(f));
}

/**
 * Writes a finding's exact request to `<dir>/finding-<n>.json` (credentials named by role, the body in base64),
 * which `FUZZ_REPLAY=<file> npm run fuzz` sends again byte for byte. Answers the file.
 */
export function saveFinding(
  dir: string,
  n: number,
  finding: Finding,
  secrets: Record<string, string>,
): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `finding-${n}.json`);
  const headers = Object.fromEntries(
    Object.entries(finding.request.headers).map(([name, value]) => {
      let shown = value;
      for (const [role, secret] of Object.entries(secrets)) shown = shown.replaceAll(secret, `<${role}>`);
      return [name, shown];
    }),
  );
  const saved = {
    route: finding.route,
    problem: finding.problem,
    features: finding.features,
    replay: { seed: finding.seed, path: finding.path },
    request: {
      method: finding.request.method,
      path: finding.request.path,
      headers,
      bodyBase64:
        finding.request.body === undefined ? null : Buffer.from(finding.request.body).toString('base64'),
    },
    answer: finding.answer,
  };
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
  return file;
}

/** A finding as a report shows it: the defect, the shrunk request, the answer, how to replay it. */
export function showFinding(finding: Finding, secrets: Record<string, string>, file?: string): string {
  return [
    `${finding.route} → ${finding.problem}   [${finding.features.join(', ') || 'the seed itself'}]${finding.seen ? ` (met ${finding.seen} more times)` : ''}`,
    ...(finding.routes.size > 1
      ? [`    also on: ${[...finding.routes].filter((r) => r !== finding.route).join(', ')}`]
      : []),
    showRequest(finding.request, secrets)
      .split('\n')
      .map((line) => `    ${line}`)
      .join('\n'),
    `    answer: ${finding.answer.status} ${finding.answer.text.slice(0, 300)}`,
    `    replay: FUZZ_SEED=${finding.seed} FUZZ_PATH=${finding.path} npm run fuzz${file ? `   (or FUZZ_REPLAY=${file} npm run fuzz)` : ''}`,
  ].join('\n');
}

/** One line per defect class: what strangeness, answered how, on which routes (a finding per route). */
export function summary(findings: readonly Finding[]): string[] {
  const groups = new Map<string, Set<string>>();
  for (const f of findings) {
    const telling = f.features.filter((x) => !WEAK.test(x));
    const key = `${(telling.length > 0 ? telling : f.features).join(' + ') || 'the seed itself'} → ${f.problem.replace(/^\d+: /, '2xx: ')}`;
    const routes = groups.get(key) ?? new Set();
    for (const route of f.routes) routes.add(route);
    groups.set(key, routes);
  }
  return [...groups].map(([key, routes]) => `${key}: ${[...routes].join(', ')}`);
}
