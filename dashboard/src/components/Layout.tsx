import type { ComponentChildren } from 'preact';
import { signOut } from '../api.ts';
import { setTheme, useTheme } from '../theme.ts';
import { navigate } from '../url-state.ts';

/** The pages, in the order of the navigation; `id` is the hash route (`#/<id>`). */
export const PAGES = [
  { id: 'agent', label: 'Agent' },
  { id: 'supervisor', label: 'Supervisor' },
  { id: 'manager', label: 'Manager' },
  { id: 'search', label: 'Search' },
  { id: 'explorer', label: 'Explorer' },
  { id: 'settings', label: 'Settings' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

/**
 * The frame of every signed-in page: the navigation (links keep the time range and filters), the theme toggle
 * and sign-out.
 */
export function Layout({
  page,
  children,
  onSignOut,
}: {
  page: string;
  children: ComponentChildren;
  onSignOut: () => void;
}) {
  const theme = useTheme();
  return (
    <div class="shell">
      <header class="top-bar">
        <span class="brand">OpenUA</span>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((entry) => (
              <li key={entry.id}>
                <a
                  href={`#/${entry.id}`}
                  aria-current={entry.id === page ? 'page' : undefined}
                  data-testid={`nav-${entry.id}`}
                  onClick={(event) => {
                    event.preventDefault();
                    navigate(entry.id);
                  }}
                >
                  {entry.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-actions">
          <button
            type="button"
            data-testid="theme-toggle"
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          >
            {theme === 'dark' ? '☀ Light' : '☾ Dark'}
          </button>
          <button
            type="button"
            data-testid="sign-out"
            onClick={() => {
              signOut();
              onSignOut();
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

/** A page's heading and its controls (time range, filters, pickers). */
export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1>{title}</h1>
      {children && <div class="page-controls">{children}</div>}
    </div>
  );
}
