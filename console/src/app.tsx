import { useEffect, useRef, useState } from 'preact/hooks';
import { api, call, describeError, onSessionLost, resumeSession, signOut } from './api';
import { Alert, Link, PageHeading, RelativeTime } from './components';
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
  | { state: 'admin'; me: Me }
  /** An admin acting as a user (POST /admin/users/{userId}/impersonate), until it ends or expires. */
  | { state: 'impersonating'; me: Me; admin: string; expiresAt: string };

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
    if (auth.state === 'admin' || auth.state === 'not-admin' || auth.state === 'impersonating')
      sessionStorage.setItem(SIGNED_IN_HINT, '1');
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
        if (profile.impersonatedBy) {
          const { username: admin } = profile.impersonatedBy;
          setAuth({ state: 'impersonating', me, admin, expiresAt: profile.session.expiresAt });
        } else setAuth(profile.roles.includes('admin') ? { state: 'admin', me } : { state: 'not-admin', me });
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
        if (state === 'admin' || state === 'not-admin' || state === 'impersonating') {
          settle({ state: 'signed-out', notice: SESSION_ENDED });
        }
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
      return <Console me={auth.me} onSignOut={() => void leave()} onImpersonated={resume} />;
    case 'impersonating':
      return (
        <Impersonation
          auth={auth}
          onEnded={(restored) => {
            if (restored) resume();
            else
              settle({
                state: 'signed-out',
                notice: 'The impersonation ended, and your own session had ended too. Sign in again.',
              });
          }}
          onSignOut={() => void leave()}
        />
      );
  }
}

/**
 * The console while its admin acts as a user: what that user sees of their sessions, under a banner
 * that says so and ends it. The admin pages stay closed until then (the service refuses them).
 */
function Impersonation(props: {
  auth: Extract<Auth, { state: 'impersonating' }>;
  onEnded: (restored: boolean) => void;
  onSignOut: () => void;
}) {
  const { me, admin, expiresAt } = props.auth;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const end = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const { restored } = await call(() => api.POST('/auth/impersonation/end'));
      props.onEnded(restored);
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top impersonating">
        <p class="who">
          <span>
            You ({admin}) are acting as <strong>{me.username}</strong>. It ends by itself{' '}
            <RelativeTime at={expiresAt} />; everything done is recorded in the audit log with you as the actor.
          </span>
          <button type="button" disabled={busy} onClick={() => void end()}>
            End impersonation
          </button>
          <button type="button" onClick={props.onSignOut}>
            Sign out
          </button>
        </p>
      </header>
      <main id="main" tabIndex={-1}>
        <Alert message={error} />
        <MySessionsPage />
      </main>
    </>
  );
}

const NAV: [Exclude<Route, 'not-found'>, string][] = [
  ['overview', 'Overview'],
  ['sessions', 'Sessions'],
  ['users', 'Users'],
  ['audit', 'Audit log'],
  ['me', 'My sessions'],
];

function Console(props: { me: Me; onSignOut: () => void; onImpersonated: () => void }) {
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
        <Page route={route} url={url} me={props.me} onImpersonated={props.onImpersonated} />
      </main>
      <PasswordPrompt />
    </>
  );
}

function Page(props: { route: Route; url: URL; me: Me; onImpersonated: () => void }) {
  const query = props.url.searchParams;
  switch (props.route) {
    case 'overview':
      return <OverviewPage />;
    case 'sessions':
      return <SessionsPage userId={query.get('userId') ?? ''} me={props.me} />;
    case 'users':
      return <UsersPage me={props.me} onImpersonated={props.onImpersonated} />;
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
