import type { ComponentChildren } from 'preact';
import { Empty } from '../../components/Empty.tsx';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { Loading } from '../../components/Loading.tsx';

/**
 * A panel of the people pages with its own states: loading (nothing yet), the error of its own call (the
 * other panels stay), empty (with what to do next), or its content. `query` names the call in
 * queriesFor's answer, so a test finds the panel that shows it.
 */
export function Section({
  title,
  query,
  loading,
  error,
  empty,
  retry,
  children,
}: {
  title: string;
  query?: string;
  loading: boolean;
  error?: unknown;
  /** Set when there is nothing to show: what the reader can do next. */
  empty?: { message: string; next: string };
  retry?: () => void;
  children?: ComponentChildren;
}) {
  let body: ComponentChildren;
  if (error) body = <ErrorBox error={error} retry={retry} />;
  else if (loading) body = <Loading what={title.toLowerCase()} />;
  else if (empty) body = <Empty message={empty.message} next={empty.next} />;
  else body = children;
  return (
    <section class="panel" aria-label={title} data-query={query}>
      <h2>{title}</h2>
      {body}
    </section>
  );
}
