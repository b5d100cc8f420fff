import { useState } from 'preact/hooks';
import { api, call, isStatus, type OwnSession } from '../api';
import { Alert, Dialog, ImpersonationTag, PageHeading, Status, TableBox, TableHead, focusHeading } from '../components';
import { useLoad } from '../loading';
import { SessionCells, deviceName } from './sessions';

type Pending = { kind: 'one'; session: OwnSession } | { kind: 'others' };

export function MySessionsPage() {
  const mine = useLoad(async () => {
    const { sessions } = await call(() => api.GET('/auth/sessions'));
    return sessions;
  }, []);
  const sessions = mine.data;
  const [status, setStatus] = useState<string>();
  const [pending, setPending] = useState<Pending>();

  const end = async (what: Pending): Promise<void> => {
    if (what.kind === 'one') {
      const { session } = what;
      try {
        await call(() => api.DELETE('/auth/sessions/{id}', { params: { path: { id: session.id } } }));
        setStatus(`Ended your session on ${deviceName(session)}.`);
      } catch (failure) {
        if (!isStatus(failure, 404)) throw failure;
        setStatus(`Your session on ${deviceName(session)} had already ended.`);
      }
      mine.setData((rows) => rows?.filter((row) => row.id !== session.id));
    } else {
      const { revoked } = await call(() => api.DELETE('/auth/sessions'));
      setStatus(`Ended ${revoked} other session${revoked === 1 ? '' : 's'}.`);
      mine.setData((rows) => rows?.filter((row) => row.current));
    }
    setPending(undefined);
    focusHeading();
  };

  const open = (next: Pending): void => {
    setStatus(undefined);
    setPending(next);
  };

  const others = sessions?.filter((session) => !session.current).length ?? 0;

  return (
    <>
      <PageHeading>My sessions</PageHeading>
      <p>Where you are signed in, newest activity first. End a session you do not recognise.</p>
      <div class="toolbar">
        {others > 0 ? (
          <button type="button" class="danger" onClick={() => open({ kind: 'others' })}>
            End all other sessions
          </button>
        ) : null}
        <button type="button" onClick={mine.reload}>
          Refresh
        </button>
      </div>
      <Alert message={mine.error} onRetry={mine.reload} />
      <Status message={status} />
      {sessions === undefined ? (
        mine.error ? null : (
          <p aria-busy="true">Loading your sessions…</p>
        )
      ) : (
        <TableBox label="My sessions">
          <table>
            <caption>Your live sessions{others === 0 ? ': this one only' : ''}</caption>
            <TableHead columns={['Device', 'Browser', 'OS', 'IP', 'Created', 'Last activity']} actions />
            <tbody>
              {sessions.map((session) => (
                <tr key={session.id} class={session.current ? 'current' : undefined}>
                  <th scope="row">
                    {session.deviceId ?? <span class="muted">none</span>}
                    {session.current ? <span class="tag">This session</span> : null}
                    <ImpersonationTag by={session.impersonatedBy} />
                  </th>
                  <SessionCells session={session} />
                  <td>
                    {session.current ? (
                      <span class="muted">Use Sign out</span>
                    ) : (
                      <button
                        type="button"
                        class="danger"
                        aria-label={`End session on ${deviceName(session)}`}
                        onClick={() => open({ kind: 'one', session })}
                      >
                        End session
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      {pending ? (
        <Dialog
          title={pending.kind === 'one' ? 'End this session?' : 'End all your other sessions?'}
          danger
          onConfirm={() => end(pending)}
          onCancel={() => setPending(undefined)}
        >
          <p>
            {pending.kind === 'one'
              ? `Your session on ${deviceName(pending.session)} (IP ${pending.session.ip}) ends now; that browser is signed out.`
              : 'Every session of yours except this one ends now; those browsers are signed out.'}
          </p>
        </Dialog>
      ) : null}
    </>
  );
}
