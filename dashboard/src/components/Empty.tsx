import type { ComponentChildren } from 'preact';

/** Nothing to show: says why, and what to do next. */
export function Empty({ message, next }: { message: string; next?: ComponentChildren }) {
  return (
    <div class="empty" role="status">
      <p>{message}</p>
      {next && <p class="muted">{next}</p>}
    </div>
  );
}
