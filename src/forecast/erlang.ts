/**
 * Erlang C: agents answering calls that arrive at random (Poisson) and wait in one queue, handle times
 * exponential, nobody abandoning. The traffic A (Erlangs) is arrivals × average handle time ÷ interval length.
 *
 * C(N, A), the probability that a call waits, is computed from Erlang B by the recursion
 * B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)), then C = N·B / (N − A·(1 − B)): the textbook form
 * (A^N/N! · N/(N−A)) / (Σ A^k/k! + …) overflows doubles past about 170 agents, the recursion never does.
 */

/** Erlang B (the probability that a call finds every agent busy, with no queue), by the recursion. */
function erlangB(trafficErlangs: number, agents: number): number {
  let b = 1;
  for (let n = 1; n <= agents; n++) b = (trafficErlangs * b) / (n + trafficErlangs * b);
  return b;
}

/** C from B for N agents: 1 when the agents cannot keep up (N ≤ A), the queue growing without end. */
const cFromB = (b: number, trafficErlangs: number, agents: number) =>
  agents <= trafficErlangs ? 1 : (agents * b) / (agents - trafficErlangs * (1 - b));

/** The probability that a call waits (Erlang C), for a traffic in Erlangs and a number of agents. */
export function erlangC(trafficErlangs: number, agents: number): number {
  if (trafficErlangs <= 0) return 0;
  return cFromB(erlangB(trafficErlangs, agents), trafficErlangs, agents);
}

/** Traffic in Erlangs: the agent-intervals of work that an interval's arrivals bring. */
export const trafficErlangs = (arrivalsPerInterval: number, ahtSeconds: number, intervalSeconds: number) =>
  (arrivalsPerInterval * ahtSeconds) / intervalSeconds;

/** Share of calls answered within `targetAnswerSeconds`: 1 − C·e^(−(N−A)·t/AHT); 0 when N ≤ A. */
const serviceLevelOf = (c: number, a: number, agents: number, aht: number, target: number) =>
  agents <= a ? 0 : 1 - c * Math.exp((-(agents - a) * target) / aht);

/** Average speed of answer in seconds, over all calls: C·AHT/(N−A); unbounded when N ≤ A. */
const asaOf = (c: number, a: number, agents: number, aht: number) =>
  agents <= a ? Number.POSITIVE_INFINITY : (c * aht) / (agents - a);

/** The share of calls answered within `targetAnswerSeconds` with `agents` agents. */
export function serviceLevel(
  agents: number,
  arrivalsPerInterval: number,
  ahtSeconds: number,
  intervalSeconds: number,
  targetAnswerSeconds: number,
): number {
  const a = trafficErlangs(arrivalsPerInterval, ahtSeconds, intervalSeconds);
  if (a <= 0) return 1;
  return serviceLevelOf(erlangC(a, agents), a, agents, ahtSeconds, targetAnswerSeconds);
}

export interface StaffingTarget {
  ahtSeconds: number;
  intervalSeconds: number;
  /** The share of calls to answer within targetAnswerSeconds, 0–1 (0.8 for 80/20). */
  targetServiceLevel: number;
  targetAnswerSeconds: number;
  /** The busiest the agents may be, 0–1: more agents than the service level needs, if it binds. */
  maxOccupancy?: number;
}

export interface Staffing {
  trafficErlangs: number;
  agents: number;
  /** Erlang C with that many agents. */
  probabilityOfWaiting: number;
  serviceLevel: number;
  /** Average speed of answer, seconds, over all calls (those answered at once count 0). */
  asaSeconds: number;
  /** A ÷ N: the share of the agents' time spent handling. */
  occupancy: number;
}

/**
 * The fewest agents that meet the service level (and the occupancy cap), with what they achieve. An interval
 * with no arrivals needs no agent. B is carried from one agent count to the next, so the search costs one
 * step per agent.
 */
export function agentsNeeded(arrivalsPerInterval: number, target: StaffingTarget): Staffing {
  const { ahtSeconds, intervalSeconds, targetServiceLevel, targetAnswerSeconds } = target;
  const maxOccupancy = target.maxOccupancy ?? 1;
  const a = trafficErlangs(arrivalsPerInterval, ahtSeconds, intervalSeconds);
  if (a <= 0) {
    return {
      trafficErlangs: 0,
      agents: 0,
      probabilityOfWaiting: 0,
      serviceLevel: 1,
      asaSeconds: 0,
      occupancy: 0,
    };
  }
  let b = 1;
  for (let n = 1; ; n++) {
    b = (a * b) / (n + a * b);
    if (n <= a) continue;
    const c = cFromB(b, a, n);
    const level = serviceLevelOf(c, a, n, ahtSeconds, targetAnswerSeconds);
    if (level >= targetServiceLevel && a / n <= maxOccupancy) {
      return {
        trafficErlangs: a,
        agents: n,
        probabilityOfWaiting: c,
        serviceLevel: level,
        asaSeconds: asaOf(c, a, n, ahtSeconds),
        occupancy: a / n,
      };
    }
  }
}
