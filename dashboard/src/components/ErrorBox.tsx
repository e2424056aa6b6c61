import { ApiError } from '../api.ts';

const ADVICE: Record<number, string> = {
  0: 'Check that OpenUA is running and reachable, then try again.',
  401: 'Your credential was refused: sign in again with a valid key.',
  403: 'Your credential lacks the privilege this view needs: ask an administrator for a key that has it.',
  404: 'It was not found: it may have been deleted.',
  429: 'Too many requests: wait a moment and try again.',
  503: 'OpenUA is not ready (starting, or a dependency is down): try again shortly.',
};

/** What went wrong, in the API's words, with each violation and what to do about it. */
export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const apiError = error instanceof ApiError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const advice = apiError
    ? (ADVICE[apiError.status] ?? (apiError.status >= 500 ? ADVICE[503] : undefined))
    : undefined;
  return (
    <div class="error-box" role="alert" data-testid="error">
      <p>
        <strong>
          {apiError ? `${apiError.code}${apiError.status ? ` (${apiError.status})` : ''}` : 'Error'}:
        </strong>{' '}
        {message}
      </p>
      {apiError && apiError.violations.length > 1 && (
        <ul>
          {apiError.violations.map((violation) => (
            <li key={`${violation.field}:${violation.rule}`}>
              <code>{violation.field || 'body'}</code>: {violation.message}
            </li>
          ))}
        </ul>
      )}
      {advice && <p class="muted">{advice}</p>}
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}
