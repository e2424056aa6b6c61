import { useState } from 'preact/hooks';
import { signIn } from '../api.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';

/**
 * The credential is an API key (`oua_…`) or a search token with `analytics:read`; it is kept in the tab's
 * sessionStorage only (closing the tab signs out) and sent as `Authorization: Bearer` on every call.
 */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  return (
    <main id="main" class="sign-in">
      <h1>Sign in to OpenUA</h1>
      <p class="muted">
        Paste an API key or a search token that has the <code>analytics:read</code> privilege. Settings also
        needs <code>admin</code>. The credential stays in this tab only.
      </p>
      <form
        data-testid="sign-in-form"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await signIn(value);
            onSignedIn();
          } catch (failure) {
            setError(failure);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          Credential
          <br />
          <input
            name="credential"
            data-testid="credential"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            value={value}
            onInput={(event) => setValue((event.target as HTMLInputElement).value)}
          />
        </label>
        {error !== undefined && <ErrorBox error={error} />}
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
