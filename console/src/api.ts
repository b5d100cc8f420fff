import {
  createSessionClient,
  SessionClientError,
  unwrap,
  type components,
  type LoginResponse,
} from '../../clients/typescript/src/index';

export type AdminSession = components['schemas']['AdminSessionDto'];
export type OwnSession = components['schemas']['OwnSessionDto'];
export type User = components['schemas']['UserDto'];
export type AuditEvent = components['schemas']['AuditEventDto'];
export type AuditType = AuditEvent['type'];
export type SessionStats = components['schemas']['SessionStatsDto'];
export type StatsHistory = components['schemas']['StatsHistoryDto'];
export type Profile = components['schemas']['ProfileDto'];

/** Same origin: the browser keeps the (HttpOnly) cookie, the client keeps the CSRF token. */
export const api = createSessionClient({ baseUrl: location.origin });

/** A failed call: the service's status and messages, and Retry-After when it sent one. */
export class ApiError extends SessionClientError {
  constructor(
    error: SessionClientError,
    readonly retryAfter: number | undefined,
  ) {
    super(error.status, error.body);
    this.name = 'ApiError';
  }
}

interface Handlers {
  /** The session is gone (401): back to Sign in. */
  unauthorized(): void;
  /** The session is not an admin's (403 on an admin route). */
  forbidden(): void;
}

let handlers: Handlers = { unauthorized: () => undefined, forbidden: () => undefined };

export function onSessionLost(next: Handlers): void {
  handlers = next;
}

type Result = { data?: unknown; error?: unknown; response: Response };

const CSRF_MESSAGE = 'Missing or invalid CSRF token';
const REAUTHENTICATION_REQUIRED = 'reauthentication_required';
export const NOT_CONFIRMED = 'Not done: the password was not confirmed.';

/**
 * Asks the person for their password and proves it (POST /auth/reauthenticate): resolves once the
 * session has a fresh proof, rejects when they gave up. `windowSeconds` is REAUTH_WINDOW when the
 * refusal said it.
 */
export type PasswordPrompt = (windowSeconds: number | undefined) => Promise<void>;

let passwordPrompt: PasswordPrompt | undefined;

/** The console's password prompt; undefined while none is shown (a refusal is then an error like any other). */
export function onReauthenticationRequired(prompt: PasswordPrompt | undefined): void {
  passwordPrompt = prompt;
}

/** The prompt being shown: every call refused meanwhile waits for the same one. */
let asking: Promise<void> | undefined;
/** Password proofs made in this tab: a call sent before the latest one needs no new prompt, only a retry. */
let proofs = 0;

function confirmPassword(error: SessionClientError, prompt: PasswordPrompt): Promise<void> {
  if (asking) return asking;
  // "… needs a password proof from the last 300 s": the window, for the prompt's explanation.
  const seconds = /(\d+) s\b/.exec(messages(error).join(' '));
  const asked = prompt(seconds ? Number(seconds[1]) : undefined).then(() => {
    proofs++;
  });
  asking = asked;
  const done = (): void => {
    if (asking === asked) asking = undefined;
  };
  void asked.then(done, done);
  return asked;
}

interface CallOptions {
  /** The session check at start: its 401 means "not signed in", not "the session ended". */
  sessionCheck?: boolean;
  retried?: boolean;
  /** Retried after a password proof: a second refusal is not asked about again. */
  reauthenticated?: boolean;
}

/**
 * Runs one client call and returns its data; any other answer throws ApiError. A 401 ends the
 * console's session, a 403 of an admin route shows the admins-only page, and a CSRF refusal (the
 * token was lost, e.g. by a reload in another tab) fetches the token again and retries once. A
 * sensitive action refused for want of a recent password proof (403 `reauthentication_required`)
 * asks for the password (one prompt for every call refused meanwhile) and retries once; when the
 * person cancels, the call fails with NOT_CONFIRMED.
 */
export async function call<R extends Result>(request: () => Promise<R>, options: CallOptions = {}) {
  const proofsBefore = proofs;
  const result = await request();
  try {
    return await unwrap(Promise.resolve(result));
  } catch (error) {
    if (!(error instanceof SessionClientError)) throw error;
    const path = new URL(result.response.url || location.href).pathname;
    if (error.status === 401 && path !== '/auth/login' && !options.sessionCheck) handlers.unauthorized();
    if (error.status === 403) {
      if (messages(error).includes(CSRF_MESSAGE) && !options.retried) {
        await api.refreshCsrfToken();
        return call(request, { ...options, retried: true });
      }
      if (error.body.code === REAUTHENTICATION_REQUIRED) {
        const prompt = passwordPrompt;
        if (options.reauthenticated || !prompt) throw new ApiError(error, retryAfter(result.response));
        if (proofs === proofsBefore) {
          try {
            await confirmPassword(error, prompt);
          } catch {
            throw new ApiError(new SessionClientError(403, { ...error.body, message: NOT_CONFIRMED }), undefined);
          }
        }
        return call(request, { ...options, reauthenticated: true });
      }
      if (path.startsWith('/admin/') && !messages(error).includes(CSRF_MESSAGE)) handlers.forbidden();
    }
    throw new ApiError(error, retryAfter(result.response));
  }
}

/** POST /auth/reauthenticate: a fresh password proof for this session. */
export async function reauthenticate(password: string): Promise<void> {
  await call(() => api.POST('/auth/reauthenticate', { body: { password } }));
}

function retryAfter(response: Response): number | undefined {
  const value = response.headers.get('Retry-After');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function messages(error: SessionClientError): string[] {
  const { message } = error.body;
  return Array.isArray(message) ? message : [message];
}

/** What to tell the person: the service's own messages, with what to do where it helps. */
export function describeError(error: unknown): string {
  if (error instanceof SessionClientError) {
    const said = messages(error).join(' ');
    const wait = error instanceof ApiError && error.retryAfter !== undefined ? error.retryAfter : undefined;
    if (error.status === 503) {
      return `The session store is unavailable (503). Retry ${wait ? `in ${wait} seconds` : 'in a moment'}.`;
    }
    if (error.status === 429) {
      const sentence = /[.!?]$/.test(said) ? said : `${said}.`;
      return `${sentence} ${wait !== undefined ? `You can try again in ${formatWait(wait)}.` : 'Wait a while before trying again.'}`;
    }
    if (error.status === 401) return 'Your session ended. Sign in again.';
    if (error.status >= 500) return `The service failed (${error.status}): ${said} Retry in a moment.`;
    return said;
  }
  if (error instanceof TypeError) return 'The service cannot be reached. Check the connection and retry.';
  return error instanceof Error ? error.message : String(error);
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof SessionClientError && error.status === status;
}

export async function signIn(username: string, password: string): Promise<LoginResponse> {
  return call(() => api.POST('/auth/login', { body: { username, password } }));
}

/** After a reload the client has no CSRF token: fetch it, and learn who is signed in (401: nobody). */
export async function resumeSession(): Promise<Profile | undefined> {
  try {
    await call(() => api.GET('/auth/csrf'), { sessionCheck: true });
    return await call(() => api.GET('/auth/profile'), { sessionCheck: true });
  } catch (error) {
    if (isStatus(error, 401)) return undefined;
    throw error;
  }
}

export async function signOut(): Promise<void> {
  try {
    await api.logout();
  } catch {
    // The session may already be gone; the client forgot its token either way.
  }
}

/** Every user (for the filters): pages of 1,000, at most 10,000 users. */
export async function allUsers(): Promise<User[]> {
  const users: User[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const result = await call(() => api.GET('/admin/users', { params: { query: { limit: 1000, cursor } } }));
    users.push(...result.users);
    if (!result.nextCursor) break;
    cursor = result.nextCursor;
  }
  return users.sort((a, b) => a.username.localeCompare(b.username));
}

export async function statsHistory(): Promise<StatsHistory> {
  return call(() => api.GET('/admin/sessions/stats/history'));
}
