import { api, call, type AuditType, type User } from '../api';
import { Alert, PageHeading, Pager, RelativeTime, TableBox, TableHead } from '../components';
import { usePagedList } from '../loading';
import { setQuery } from '../router';
import { UserSelect, useUsers } from '../users-filter';

const PAGE_SIZE = 50;

export const EVENT_TYPES: Record<AuditType, string> = {
  login: 'Login',
  login_failure: 'Login failure',
  logout: 'Logout',
  session_revoked: 'Session ended by revocation',
  session_expired: 'Session expired',
  user_created: 'User created',
  user_updated: 'User updated',
  user_deleted: 'User deleted',
  users_imported: 'Users imported',
  password_changed: 'Password changed',
  password_rehashed: 'Password rehashed',
  session_adopted: 'Legacy session adopted',
  session_adoption_refused: 'Legacy session refused',
  reauthenticated: 'Password confirmed',
  session_suspicious: 'Suspicious use of a session',
  impersonation_started: 'Impersonation started',
  impersonation_ended: 'Impersonation ended',
};

function isAuditType(value: string): value is AuditType {
  return value in EVENT_TYPES;
}

/** A subject is a user id, a session id (`<userId>.<hash>`), a username (failed logins) or `users`. */
function describeSubject(subject: string, names: Map<string, string>): string {
  const name = names.get(subject);
  if (name) return name;
  const dot = subject.indexOf('.');
  if (dot > 0) {
    const owner = names.get(subject.slice(0, dot));
    if (owner) return `a session of ${owner}`;
  }
  return subject;
}

export function AuditPage(props: { type: string; userId: string }) {
  const { users, error: usersError } = useUsers();
  const type = isAuditType(props.type) ? props.type : undefined;
  const list = usePagedList(
    async (cursor) => {
      const query = { limit: PAGE_SIZE, cursor, type, userId: props.userId || undefined };
      const page = await call(() => api.GET('/admin/audit', { params: { query } }));
      return { items: page.events, nextCursor: page.nextCursor };
    },
    [type, props.userId],
  );
  const events = list.items;

  const names = new Map(users.map((user: User) => [user.id, user.username]));
  const filtered = type !== undefined || props.userId !== '';

  return (
    <>
      <PageHeading>Audit log</PageHeading>
      <p>Logins, logouts, ended sessions and user changes, newest first.</p>
      <div class="toolbar">
        <div class="field">
          <label for="audit-type">Event type</label>
          <select
            id="audit-type"
            value={type ?? ''}
            onChange={(event) => setQuery({ type: event.currentTarget.value || undefined })}
          >
            <option value="">All events</option>
            {Object.entries(EVENT_TYPES).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <UserSelect id="audit-user" users={users} value={props.userId} />
        <button type="button" onClick={list.reload} disabled={list.loading}>
          Refresh
        </button>
      </div>
      <Alert message={usersError} />
      <Alert message={list.error} onRetry={list.reload} />
      {events === undefined ? (
        list.loading ? (
          <p aria-busy="true">Loading the audit log…</p>
        ) : null
      ) : events.length === 0 ? (
        <p>
          {list.hasNext
            ? 'No matching events in this stretch of the log. Use Next page to search older events.'
            : filtered
              ? 'No events match these filters. Choose All events or All users to see more.'
              : 'The audit log is empty. Events appear here as people sign in and admins make changes.'}
        </p>
      ) : (
        <TableBox label="Audit log">
          <table aria-busy={list.loading}>
            <caption>Audit events, newest first</caption>
            <TableHead columns={['Time', 'Event', 'Actor', 'Subject', 'IP', 'Detail']} />
            <tbody>
              {events.map((event) => (
                <tr key={event.id}>
                  <td>
                    <RelativeTime at={event.at} />
                  </td>
                  <th scope="row">{EVENT_TYPES[event.type] ?? event.type}</th>
                  <td>{event.actor ? event.actor.username : <span class="muted">the service</span>}</td>
                  <td class="wrap">{describeSubject(event.subject, names)}</td>
                  <td class="mono">{event.ip ?? <span class="muted">none</span>}</td>
                  <td class="wrap">{event.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <Pager label="Audit log" list={list} />
    </>
  );
}
