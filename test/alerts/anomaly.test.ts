import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  anomalyWindowProblem,
  detectAnomaly,
  foldBuckets,
  historyGranularity,
  historyPlan,
} from '../../src/alerts/anomaly.ts';
import { backoffMs, MAX_RETRY_DELAY_MS, retryable, sign, verifySignature } from '../../src/alerts/webhook.ts';

/** The pure parts of alerting: the anomaly method, its history windows, the backoff and the signature. */

const options = { deviations: 3, minHistory: 8 };
const repeat = (value: number, n: number) => new Array<number>(n).fill(value);

/** A verdict that has its statistics (asserting there was enough history). */
function judged(value: number, history: readonly number[], k = 3) {
  const verdict = detectAnomaly(value, history, { ...options, deviations: k });
  if (verdict.kind === 'insufficientHistory') throw new Error(`no verdict: ${JSON.stringify(verdict)}`);
  return verdict;
}

describe('detectAnomaly', () => {
  it('a flat history: the spread is √mean, so a change within 3√mean is normal and beyond it is flagged', () => {
    const history = repeat(100, 24);
    const within = judged(129, history);
    assert.equal(within.kind, 'normal');
    assert.equal(within.mean, 100);
    assert.equal(within.stddev, 0);
    assert.equal(within.spread, 10, 'max(0, √100, 1)');
    assert.ok(Math.abs(within.z - 2.9) < 1e-12);
    assert.equal(within.lower, 70);
    assert.equal(within.upper, 130);
    assert.equal(detectAnomaly(131, history, options).kind, 'spike');
    assert.equal(detectAnomaly(69, history, options).kind, 'dip');
    assert.equal(detectAnomaly(130, history, options).kind, 'normal', 'exactly k spreads is not beyond');
  });

  it('a flat history of tiny counts does not flag a tiny change (the spread is at least 1)', () => {
    const history = repeat(1, 24);
    const verdict = judged(3, history);
    assert.equal(verdict.kind, 'normal');
    assert.equal(verdict.spread, 1);
    assert.equal(detectAnomaly(5, history, options).kind, 'spike');
  });

  it('a spike in a noisy history is measured in the sample standard deviation', () => {
    const history = [40, 60, 40, 60, 40, 60, 40, 60, 40, 60, 40, 60];
    const verdict = judged(120, history);
    assert.equal(verdict.mean, 50);
    // Σ(v − 50)² = 12 × 100; / (n − 1) = 1200 / 11.
    assert.ok(Math.abs(verdict.stddev - Math.sqrt(1200 / 11)) < 1e-12);
    assert.equal(verdict.spread, verdict.stddev, 'the noise is wider than √50');
    assert.equal(verdict.kind, 'spike');
    assert.ok(Math.abs(verdict.z - 70 / verdict.stddev) < 1e-12);
    assert.equal(detectAnomaly(75, history, options).kind, 'normal', '75 is within 3 × 10.4 of 50');
  });

  it('a dip to nothing is flagged (a broken tracker)', () => {
    const verdict = judged(0, [200, 210, 190, 205, 195, 200, 198, 202, 200, 210]);
    assert.equal(verdict.kind, 'dip');
    assert.ok(verdict.z < -3);
  });

  it('k is the rule’s deviations', () => {
    const history = repeat(100, 24);
    assert.equal(detectAnomaly(125, history, { ...options, deviations: 2 }).kind, 'spike');
    assert.equal(detectAnomaly(125, history, { ...options, deviations: 3 }).kind, 'normal');
  });

  it('too little history gives no verdict: leading empty windows are not history', () => {
    assert.deepEqual(detectAnomaly(500, [], options), {
      kind: 'insufficientHistory',
      historyWindows: 0,
      minHistory: 8,
    });
    assert.deepEqual(detectAnomaly(500, repeat(0, 24), options), {
      kind: 'insufficientHistory',
      historyWindows: 0,
      minHistory: 8,
    });
    const young = [...repeat(0, 17), ...repeat(10, 7)];
    assert.deepEqual(detectAnomaly(500, young, options), {
      kind: 'insufficientHistory',
      historyWindows: 7,
      minHistory: 8,
    });
    // One more window with data, and there is a verdict.
    const enough = detectAnomaly(500, [...repeat(0, 16), ...repeat(10, 8)], options);
    assert.equal(enough.kind, 'spike');
    // Empty windows after the first one with data are history (a real zero).
    assert.equal(judged(10, [5, 0, 5, 0, 5, 0, 5, 0]).historyWindows, 8);
  });
});

describe('history windows', () => {
  it('are read in the largest UTC bucket that divides the window', () => {
    assert.equal(historyGranularity(1), 'minute');
    assert.equal(historyGranularity(15), 'minute');
    assert.equal(historyGranularity(60), 'hour');
    assert.equal(historyGranularity(180), 'hour');
    assert.equal(historyGranularity(1440), 'day');
    assert.equal(historyGranularity(10_080), 'day');
  });

  it('end at the bucket boundary at or before the current window, 24 windows back', () => {
    const now = new Date('2026-11-25T10:17:42.500Z');
    const plan = historyPlan(now, 15);
    assert.equal(plan.granularity, 'minute');
    // The current window starts 10:02:42.5; history ends at the minute before it.
    assert.equal(plan.to.toISOString(), '2026-11-25T10:02:00.000Z');
    assert.equal(plan.from.toISOString(), new Date(plan.to.getTime() - 24 * 15 * 60_000).toISOString());
    const hourly = historyPlan(now, 60);
    assert.equal(hourly.to.toISOString(), '2026-11-25T09:00:00.000Z');
    assert.equal(hourly.from.toISOString(), '2026-11-24T09:00:00.000Z');
  });

  it('add up their buckets; missing buckets are 0 and buckets outside are ignored', () => {
    const plan = historyPlan(new Date('2026-11-25T10:17:42Z'), 2, 3);
    // The current window starts 10:15:42; history: 10:09–10:11, 10:11–10:13, 10:13–10:15 (minute buckets).
    assert.equal(plan.from.toISOString(), '2026-11-25T10:09:00.000Z');
    assert.equal(plan.to.toISOString(), '2026-11-25T10:15:00.000Z');
    const at = (hhmm: string, value: number) => ({ time: new Date(`2026-11-25T${hhmm}:00Z`), value });
    const windows = foldBuckets(plan, [
      at('10:08', 99),
      at('10:09', 1),
      at('10:10', 2),
      at('10:12', 4),
      at('10:14', 8),
      at('10:15', 99),
    ]);
    assert.deepEqual(windows, [3, 4, 8]);
  });

  it('an anomaly rule needs a window its measure can be read in', () => {
    assert.equal(anomalyWindowProblem('count', 15), undefined);
    assert.equal(anomalyWindowProblem('count', 1440), undefined);
    assert.equal(anomalyWindowProblem('count', 180), undefined);
    assert.match(String(anomalyWindowProblem('count', 1441)), /whole hours/);
    assert.equal(anomalyWindowProblem('distinctUsers', 60), undefined);
    assert.match(String(anomalyWindowProblem('distinctUsers', 15)), /1, 60 or 1440/);
    assert.match(String(anomalyWindowProblem('distinctVisits', 120)), /1, 60 or 1440/);
  });
});

describe('webhook delivery rules', () => {
  it('the signature is HMAC-SHA256 of "<timestamp>.<body>", and verifies only with the same secret, time and body', () => {
    const body = '{"type":"alert.fired"}';
    const expected = `sha256=${createHmac('sha256', 'whsec_test').update(`1700000000.${body}`).digest('hex')}`;
    assert.equal(sign('whsec_test', 1_700_000_000, body), expected);
    assert.ok(verifySignature('whsec_test', '1700000000', body, expected));
    assert.ok(!verifySignature('whsec_other', '1700000000', body, expected));
    assert.ok(!verifySignature('whsec_test', '1700000001', body, expected));
    assert.ok(!verifySignature('whsec_test', '1700000000', `${body} `, expected));
    assert.ok(!verifySignature('whsec_test', '1700000000', body, 'sha256=00'));
  });

  it('retries no answer, 408, 429 and 5xx; not other statuses', () => {
    for (const status of [null, 408, 429, 500, 502, 503, 504]) assert.ok(retryable(status), String(status));
    for (const status of [200, 301, 400, 401, 403, 404, 410, 422])
      assert.ok(!retryable(status), String(status));
  });

  it('backs off exponentially, jittered into the upper half, capped, and never below Retry-After', () => {
    const low = () => 0;
    const high = () => 1;
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffMs(n, 1000, undefined, high)),
      [1000, 2000, 4000, 8000],
    );
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffMs(n, 1000, undefined, low)),
      [500, 1000, 2000, 4000],
    );
    assert.equal(backoffMs(30, 1000, undefined, high), MAX_RETRY_DELAY_MS);
    assert.equal(backoffMs(1, 1000, 30_000, low), 30_000, 'Retry-After wins when longer');
    assert.equal(backoffMs(1, 1000, 10 * MAX_RETRY_DELAY_MS, low), MAX_RETRY_DELAY_MS, 'but is capped too');
  });
});
