import assert from 'node:assert/strict';
import type { Violation } from '../../src/core/errors.ts';
import type { Answer } from './server.ts';

/** OpenUA's documented error body. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  /** Coveo's error type, on the errors that have one (`InvalidToken`). */
  type?: string;
  message: string;
  violations?: Violation[];
}

/** Asserts the status, the code and the documented error body, and answers the body. */
export function errorOf(answer: Answer<unknown>, status: number, code: string): ErrorBody {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const body = answer.body as unknown as ErrorBody;
  assert.equal(body.statusCode, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.error, 'string');
  assert.ok(body.error.length > 0);
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0, 'every error says why');
  return body;
}

/** Asserts a 400 whose every violation names a field, a rule and what is wrong, and answers them. */
export function violationsOf(answer: Answer<unknown>): Violation[] {
  const body = errorOf(answer, 400, 'INVALID_REQUEST');
  assert.ok(Array.isArray(body.violations), JSON.stringify(body));
  for (const v of body.violations) {
    assert.equal(typeof v.field, 'string');
    assert.equal(typeof v.rule, 'string');
    assert.ok(v.message, 'every violation says what is wrong');
  }
  return body.violations;
}
