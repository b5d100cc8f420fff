import { useState } from 'preact/hooks';
import type { Me } from '../app';
import { api, call, isStatus, type AdminSession } from '../api';
import {
  Alert,
  Dialog,
  ImpersonationTag,
  PageHeading,
  Pager,
  RelativeTime,
  Status,
  TableBox,
  TableHead,
  focusHeading,
} from '../components';
import { usePagedList } from '../loading';
import { UserSelect, useUsers } from '../users-filter';

const PAGE_SIZE = 50;

export function deviceName(session: { deviceId: string | null; browser: string; os: string }): string {
  if (session.deviceId) return session.deviceId;
  const software = [session.browser, session.os].filter(Boolean).join(' on ');
  return software || 'an unknown device';
}

/** The cells both session tables have: browser, OS, IP and the two times. */
export function SessionCells(props: {
  session: Pick<AdminSession, 'browser' | 'os' | 'ip' | 'createdAt' | 'lastActivityAt'>;
}) {
  const { session } = props;
  return (
    <>
      <td>{session.browser || <span class="muted">unknown</span>}</td>
      <td>{session.os || <span class="muted">unknown</span>}</td>
      <td class="mono">{session.ip}</td>
      <td>
        <RelativeTime at={session.createdAt} />
      </td>
      <td>
        <RelativeTime at={session.lastActivityAt} />
      </td>
    </>
  );
}

type Pending = { kind: 'one'; session: AdminSession } | { kind: 'all'; userId: string; username: string };

export function SessionsPage(props: { userId: string; me: Me }) {
  const { users, error: usersError } = useUsers();
  const list = usePagedList(
    async (cursor) => {
      const query = { limit: PAGE_SIZE, cursor, userId: props.userId || undefined };
      const page = await call(() => api.GET('/admin/sessions', { params: { query } }));
      return { items: page.sessions, nextCursor: page.nextCursor };
    },
    [props.userId],
  );
  const sessions = list.items;
  const [status, setStatus] = useState<string>();
  const [pending, setPending] = useState<Pending>();

  const filteredName =
    users.find((user) => user.id === props.userId)?.username ??
    sessions?.find((session) => session.userId === props.userId)?.username ??
    props.userId;

  const end = async (what: Pending): Promise<void> => {
    if (what.kind === 'one') {
      const { session } = what;
      try {
        await call(() => api.DELETE('/admin/sessions/{id}', { params: { path: { id: session.id } } }));
        setStatus(`Ended the session of ${session.username} on ${deviceName(session)}.`);
      } catch (failure) {
        if (!isStatus(failure, 404)) throw failure;
        setStatus(`The session of ${session.username} on ${deviceName(session)} had already ended.`);
      }
      list.setItems((rows) => rows.filter((row) => row.id !== session.id));
    } else {
      const { revoked } = await call(() =>
        api.DELETE('/admin/users/{userId}/sessions', { params: { path: { userId: what.userId } } }),
      );
      setStatus(`Ended ${revoked} session${revoked === 1 ? '' : 's'} of ${what.username}.`);
      list.setItems((rows) => rows.filter((row) => row.userId !== what.userId));
    }
    setPending(undefined);
    focusHeading();
  };

  const open = (next: Pending): void => {
    setStatus(undefined);
    setPending(next);
  };

  return (
    <>
      <PageHeading>Sessions</PageHeading>
      <p>Every live session, newest activity first. Ending a session signs its browser out at once.</p>
      <div class="toolbar">
        <UserSelect id="sessions-user" users={users} value={props.userId} />
        {props.userId ? (
          <button
            type="button"
            class="danger"
            aria-label={`End all sessions of ${filteredName}`}
            onClick={() => open({ kind: 'all', userId: props.userId, username: filteredName })}
          >
            End all sessions
          </button>
        ) : null}
        <button type="button" onClick={list.reload} disabled={list.loading}>
          Refresh
        </button>
      </div>
      <Alert message={usersError} />
      <Alert message={list.error} onRetry={list.reload} />
      <Status message={status} />
      {sessions === undefined ? (
        list.loading ? (
          <p aria-busy="true">Loading sessions…</p>
        ) : null
      ) : sessions.length === 0 ? (
        <p>
          {props.userId
            ? `${filteredName} has no live sessions. Choose All users to see everyone's.`
            : list.page > 1
              ? 'No more sessions on this page. Go back to the first page.'
              : 'No live sessions. Sessions appear here as soon as someone signs in.'}
        </p>
      ) : (
        <TableBox label="Sessions">
          <table aria-busy={list.loading}>
            <caption>
              {props.userId ? `Live sessions of ${filteredName}` : 'Live sessions'}, newest activity first
            </caption>
            <TableHead columns={['User', 'Device', 'Browser', 'OS', 'IP', 'Created', 'Last activity']} actions />
            <tbody>
              {sessions.map((session) => (
                <tr key={session.id}>
                  <th scope="row">
                    {session.username}
                    {session.userId === props.me.userId ? <span class="tag">you</span> : null}
                    <SuspicionTag suspicion={session.suspicion} />
                    <ImpersonationTag by={session.impersonatedBy} />
                  </th>
                  <td>{session.deviceId ?? <span class="muted">none</span>}</td>
                  <SessionCells session={session} />
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={`End session of ${session.username} on ${deviceName(session)}`}
                      onClick={() => open({ kind: 'one', session })}
                    >
                      End session
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <Pager label="Sessions" list={list} />
      {pending ? (
        <Dialog
          title={pending.kind === 'one' ? 'End this session?' : `End all sessions of ${pending.username}?`}
          confirmLabel="Confirm"
          danger
          onConfirm={() => end(pending)}
          onCancel={() => setPending(undefined)}
        >
          {pending.kind === 'one' ? (
            <p>
              The session of <strong>{pending.session.username}</strong> on {deviceName(pending.session)} (IP{' '}
              {pending.session.ip}) ends now; that browser is signed out.
              {pending.session.userId === props.me.userId ? ' If it is this browser, you are signed out too.' : ''}
            </p>
          ) : (
            <p>
              Every session of <strong>{pending.username}</strong> ends now, on every device.
              {pending.userId === props.me.userId ? ' That includes this one: you will be signed out.' : ''}
            </p>
          )}
        </Dialog>
      ) : null}
    </>
  );
}

/**
 * A session used from another network and browser than at its login (the service's theft signal):
 * flagged once audited, blocked while it must confirm the password.
 */
function SuspicionTag(props: { suspicion: AdminSession['suspicion'] }) {
  if (props.suspicion === 'none') return null;
  const blocked = props.suspicion === 'blocked';
  return (
    <span
      class="tag warn"
      title={`Used from another network and browser than at its login${blocked ? '; blocked until its password is confirmed' : ''}`}
    >
      {blocked ? 'suspicious, blocked' : 'suspicious'}
    </span>
  );
}
