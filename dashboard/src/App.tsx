import type { FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { credential, onUnauthenticated } from './api.ts';
import { Layout, PAGES } from './components/Layout.tsx';
import { Agent } from './pages/Agent.tsx';
import { Explorer } from './pages/Explorer.tsx';
import { Manager } from './pages/Manager.tsx';
import { Search } from './pages/Search.tsx';
import { Settings } from './pages/Settings.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { Supervisor } from './pages/Supervisor.tsx';
import { useRoute } from './url-state.ts';

/** Each page reads its own parameters with useRoute(), so a page is rendered without props. */
const PAGE_COMPONENTS: Record<string, FunctionComponent> = {
  agent: Agent,
  supervisor: Supervisor,
  manager: Manager,
  search: Search,
  explorer: Explorer,
  settings: Settings,
};

export const DEFAULT_PAGE = 'supervisor';

/**
 * The hash router: `#/<page>?<params>`. Without a credential in the tab's session every route shows the
 * sign-in, and the URL is kept, so a shared link opens its view once signed in.
 */
export function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(() => credential() !== null);

  useEffect(() => onUnauthenticated(() => setSignedIn(false)), []);

  const known = PAGES.some((entry) => entry.id === route.page);
  useEffect(() => {
    if (known) return;
    history.replaceState(null, '', `#/${DEFAULT_PAGE}`);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  }, [known]);

  const page = known ? route.page : DEFAULT_PAGE;
  const label = signedIn ? PAGES.find((entry) => entry.id === page)?.label : 'Sign in';
  useEffect(() => {
    document.title = `${label} · OpenUA`;
  }, [label]);

  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const Page = PAGE_COMPONENTS[page] as FunctionComponent;
  return (
    <Layout page={page} onSignOut={() => setSignedIn(false)}>
      <Page key={page} />
    </Layout>
  );
}
