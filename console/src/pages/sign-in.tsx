import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { LoginResponse } from '../../../clients/typescript/src/index';
import { describeError, isStatus, signIn } from '../api';
import { Alert } from '../components';

export function SignInPage(props: { notice?: string; onSignedIn: (user: LoginResponse['user']) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(props.notice);
  const first = useRef<HTMLInputElement>(null);

  // Layout effect: focus is in Username before the page's load event, so typing at once is kept.
  useLayoutEffect(() => {
    document.title = 'Sign in · Session console';
    first.current?.focus();
  }, []);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (!username.trim() || !password) {
      setError('Enter a username and a password.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const { user } = await signIn(username.trim(), password);
      props.onSignedIn(user);
    } catch (failure) {
      setError(
        isStatus(failure, 401) ? 'Invalid credentials: the username or the password is wrong.' : describeError(failure),
      );
      setPassword('');
      setBusy(false);
    }
  };

  return (
    <main id="main" class="centered sign-in">
      <h1>Sign in</h1>
      <p>The admin console of the session service. Sign in with an account that has the admin role.</p>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <label for="username">Username</label>
        <input
          ref={first}
          id="username"
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          value={username}
          onInput={(event) => setUsername(event.currentTarget.value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(event) => setPassword(event.currentTarget.value)}
        />
        <Alert message={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
