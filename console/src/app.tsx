import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, onSessionLost, resumeSession, signOut } from './api';
import { Link, PageHeading } from './components';
import { AuditPage } from './pages/audit';
import { MySessionsPage } from './pages/my-sessions';
import { OverviewPage } from './pages/overview';
import { SessionsPage } from './pages/sessions';
import { SignInPage } from './pages/sign-in';
import { UsersPage } from './pages/users';
import { PasswordPrompt } from './reauth';
import { PATHS, routeOf, useLocation, type Route } from './router';

export interface Me {
  userId: string;
  username: string;
}

type Auth =
  | { state: 'loading' }
  | { state: 'unavailable'; message: string }
  | { state: 'signed-out'; notice?: string }
  | { state: 'not-admin'; me: Me }
  | { state: 'admin'; me: Me };

const SESSION_ENDED = 'Your session ended. Sign in again.';

/** Set while this tab has a session: a reload then waits for the check instead of showing Sign in. */
const SIGNED_IN_HINT = 'console.signedIn';

function hinted(): boolean {
  try {
    return sessionStorage.getItem(SIGNED_IN_HINT) === '1';
  } catch {
    return false;
  }
}

function remember(auth: Auth): void {
  try {
    if (auth.state === 'admin' || auth.state === 'not-admin') sessionStorage.setItem(SIGNED_IN_HINT, '1');
    else if (auth.state === 'signed-out') sessionStorage.removeItem(SIGNED_IN_HINT);
  } catch {
    // Storage may be off; the hint only saves a flash of the sign-in form.
  }
}

export function App() {
  // Without a hint the sign-in form shows at once (focus in Username, ready for typing) while the
  // session check runs; a session found then still opens the console.
  const [auth, setAuth] = useState<Auth>(() => (hinted() ? { state: 'loading' } : { state: 'signed-out' }));
  const current = useRef(auth);
  current.current = auth;
  const check = useRef(0);

  /** Any decision (sign-in, sign-out, a lost session) outranks a session check still under way. */
  const settle = (next: Auth): void => {
    check.current++;
    setAuth(next);
  };

  const resume = (): void => {
    const id = ++check.current;
    if (current.current.state !== 'signed-out') setAuth({ state: 'loading' });
    resumeSession().then(
      (profile) => {
        if (id !== check.current) return;
        if (!profile) {
          // Still loading means this tab had a session (the hint): say that it ended.
          if (current.current.state !== 'signed-out') setAuth({ state: 'signed-out', notice: SESSION_ENDED });
          return;
        }
        const me = { userId: profile.userId, username: profile.username };
        setAuth(profile.roles.includes('admin') ? { state: 'admin', me } : { state: 'not-admin', me });
      },
      (error: unknown) => {
        // With the form shown, its own attempt says what is wrong (e.g. 503) when the person signs in.
        if (id !== check.current || current.current.state === 'signed-out') return;
        setAuth({ state: 'unavailable', message: describeError(error) });
      },
    );
  };

  useEffect(() => remember(auth), [auth]);

  useEffect(() => {
    onSessionLost({
      unauthorized: () => {
        const { state } = current.current;
        if (state === 'admin' || state === 'not-admin') settle({ state: 'signed-out', notice: SESSION_ENDED });
      },
      forbidden: () => {
        const now = current.current;
        if (now.state === 'admin') settle({ state: 'not-admin', me: now.me });
      },
    });
    resume();
  }, []);

  const leave = async (): Promise<void> => {
    await signOut();
    settle({ state: 'signed-out', notice: 'You signed out.' });
  };

  switch (auth.state) {
    case 'loading':
      return (
        <main id="main" class="centered" aria-busy="true">
          <p>Loading the console…</p>
        </main>
      );
    case 'unavailable':
      return (
        <main id="main" class="centered">
          <PageHeading>Console unavailable</PageHeading>
          <div role="alert" class="alert">
            <p>{auth.message}</p>
          </div>
          <button type="button" onClick={resume}>
            Retry
          </button>
        </main>
      );
    case 'signed-out':
      return (
        <SignInPage
          notice={auth.notice}
          onSignedIn={(user) => {
            const me = { userId: user.id, username: user.username };
            settle(user.roles.includes('admin') ? { state: 'admin', me } : { state: 'not-admin', me });
          }}
        />
      );
    case 'not-admin':
      return (
        <main id="main" class="centered">
          <PageHeading>This console is for admins</PageHeading>
          <div role="alert" class="alert">
            <p>
              You are signed in as <strong>{auth.me.username}</strong>, who does not have the admin role. Sign out, then
              sign in with an admin account or ask an admin for the role.
            </p>
          </div>
          <button type="button" onClick={() => void leave()}>
            Sign out
          </button>
        </main>
      );
    case 'admin':
      return <Console me={auth.me} onSignOut={() => void leave()} />;
  }
}

const NAV: [Exclude<Route, 'not-found'>, string][] = [
  ['overview', 'Overview'],
  ['sessions', 'Sessions'],
  ['users', 'Users'],
  ['audit', 'Audit log'],
  ['me', 'My sessions'],
];

function Console(props: { me: Me; onSignOut: () => void }) {
  const url = useLocation();
  const route = routeOf(url.pathname);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <nav aria-label="Console">
          <ul>
            {NAV.map(([name, label]) => (
              <li key={name}>
                <Link href={PATHS[name]} current={route === name}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            Signed in as <strong>{props.me.username}</strong>
          </span>
          <button type="button" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} url={url} me={props.me} />
      </main>
      <PasswordPrompt />
    </>
  );
}

function Page(props: { route: Route; url: URL; me: Me }) {
  const query = props.url.searchParams;
  switch (props.route) {
    case 'overview':
      return <OverviewPage />;
    case 'sessions':
      return <SessionsPage userId={query.get('userId') ?? ''} me={props.me} />;
    case 'users':
      return <UsersPage me={props.me} />;
    case 'audit':
      return <AuditPage type={query.get('type') ?? ''} userId={query.get('userId') ?? ''} />;
    case 'me':
      return <MySessionsPage />;
    case 'not-found':
      return (
        <>
          <PageHeading>Page not found</PageHeading>
          <p>
            The console has no page at this address. Go to the <Link href={PATHS.overview}>Overview</Link>.
          </p>
        </>
      );
  }
}
