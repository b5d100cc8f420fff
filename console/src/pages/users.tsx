import { useState } from 'preact/hooks';
import type { Me } from '../app';
import { api, call, describeError, type User } from '../api';
import {
  Alert,
  Dialog,
  Link,
  PageHeading,
  Pager,
  RelativeTime,
  Status,
  TableBox,
  TableHead,
  focusHeading,
} from '../components';
import { usePagedList } from '../loading';
import { PATHS } from '../router';

const PAGE_SIZE = 100;

type Action = 'roles' | 'password' | 'disable' | 'enable' | 'delete' | 'impersonate';

function parseRoles(text: string): string[] {
  return [
    ...new Set(
      text
        .split(',')
        .map((role) => role.trim())
        .filter(Boolean),
    ),
  ];
}

/** The roles input of both forms: the text is read with parseRoles. */
function RolesField(props: { id: string; value: string; onInput: (roles: string) => void }) {
  return (
    <div class="field">
      <label for={props.id}>Roles</label>
      <input
        id={props.id}
        autocomplete="off"
        aria-describedby={`${props.id}-hint`}
        value={props.value}
        onInput={(event) => props.onInput(event.currentTarget.value)}
      />
      <small id={`${props.id}-hint`}>Comma-separated, e.g. user, admin</small>
    </div>
  );
}

/** A password an admin gives a user, new or changed: the browser may offer to generate one. */
function PasswordField(props: { id: string; label: string; value: string; onInput: (password: string) => void }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="password"
        autocomplete="new-password"
        aria-describedby={`${props.id}-hint`}
        value={props.value}
        onInput={(event) => props.onInput(event.currentTarget.value)}
      />
      <small id={`${props.id}-hint`}>At least 8 characters</small>
    </div>
  );
}

export function UsersPage(props: { me: Me; onImpersonated: () => void }) {
  const list = usePagedList(async (cursor) => {
    const page = await call(() => api.GET('/admin/users', { params: { query: { limit: PAGE_SIZE, cursor } } }));
    return { items: page.users, nextCursor: page.nextCursor };
  }, []);
  const users = list.items;
  const [status, setStatus] = useState<string>();
  const [pending, setPending] = useState<{ action: Action; user: User }>();

  return (
    <>
      <PageHeading>Users</PageHeading>
      <CreateUser
        onCreated={(user) => {
          setStatus(`Created the user ${user.username}.`);
          list.reload();
        }}
      />
      <h2>All users</h2>
      <p>Changing a user's roles or password, disabling or deleting them ends all their sessions.</p>
      <Alert message={list.error} onRetry={list.reload} />
      <Status message={status} />
      {users === undefined ? (
        list.loading ? (
          <p aria-busy="true">Loading users…</p>
        ) : null
      ) : users.length === 0 ? (
        <p>No users on this page. Go back to the first page, or create a user above.</p>
      ) : (
        <TableBox label="Users">
          <table aria-busy={list.loading}>
            <caption>Users in the order they were created</caption>
            <TableHead columns={['Username', 'Roles', 'Status', 'Created']} actions />
            <tbody>
              {users.map((user) => (
                <tr key={user.id}>
                  <th scope="row">
                    {user.username}
                    {user.id === props.me.userId ? <span class="tag">you</span> : null}
                  </th>
                  <td>{user.roles.join(', ') || <span class="muted">none</span>}</td>
                  <td>{user.disabled ? <span class="tag off">Disabled</span> : 'Active'}</td>
                  <td>
                    <RelativeTime at={user.createdAt} />
                  </td>
                  <td class="row-actions">
                    <div>
                      <Link
                        href={`${PATHS.sessions}?userId=${encodeURIComponent(user.id)}`}
                        label={`View sessions of ${user.username}`}
                      >
                        View sessions
                      </Link>
                      <button
                        type="button"
                        aria-label={`Change roles of ${user.username}`}
                        onClick={() => setPending({ action: 'roles', user })}
                      >
                        Change roles
                      </button>
                      <button
                        type="button"
                        aria-label={`Set password of ${user.username}`}
                        onClick={() => setPending({ action: 'password', user })}
                      >
                        Set password
                      </button>
                      {user.disabled ? (
                        <button
                          type="button"
                          aria-label={`Enable ${user.username}`}
                          onClick={() => setPending({ action: 'enable', user })}
                        >
                          Enable
                        </button>
                      ) : (
                        <button
                          type="button"
                          aria-label={`Disable ${user.username}`}
                          onClick={() => setPending({ action: 'disable', user })}
                        >
                          Disable
                        </button>
                      )}
                      {user.roles.includes('admin') || user.disabled ? null : (
                        <button
                          type="button"
                          aria-label={`Impersonate ${user.username}`}
                          onClick={() => setPending({ action: 'impersonate', user })}
                        >
                          Impersonate
                        </button>
                      )}
                      <button
                        type="button"
                        class="danger"
                        aria-label={`Delete ${user.username}`}
                        onClick={() => setPending({ action: 'delete', user })}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
      <Pager label="Users" list={list} />
      {pending ? (
        <UserDialog
          action={pending.action}
          user={pending.user}
          self={pending.user.id === props.me.userId}
          onCancel={() => setPending(undefined)}
          onImpersonated={props.onImpersonated}
          onDone={(message, user) => {
            setPending(undefined);
            setStatus(message);
            if (user) list.setItems((rows) => rows.map((row) => (row.id === user.id ? user : row)));
            else list.setItems((rows) => rows.filter((row) => row.id !== pending.user.id));
            focusHeading();
          }}
        />
      ) : null}
    </>
  );
}

function CreateUser(props: { onCreated: (user: User) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [roles, setRoles] = useState('user');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const user = await call(() =>
        api.POST('/admin/users', { body: { username: username.trim(), password, roles: parseRoles(roles) } }),
      );
      setUsername('');
      setPassword('');
      setRoles('user');
      props.onCreated(user);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="create-user" class="panel">
      <h2 id="create-user">Create a user</h2>
      <form onSubmit={(event) => void submit(event)} class="inline-form">
        <div class="field">
          <label for="new-username">Username</label>
          <input
            id="new-username"
            autocomplete="off"
            autocapitalize="none"
            spellcheck={false}
            aria-describedby="new-username-hint"
            value={username}
            onInput={(event) => setUsername(event.currentTarget.value)}
          />
          <small id="new-username-hint">3–64 letters, digits, dots, dashes or underscores</small>
        </div>
        <PasswordField id="new-password" label="Password" value={password} onInput={setPassword} />
        <RolesField id="new-roles" value={roles} onInput={setRoles} />
        <button type="submit" disabled={busy}>
          Create user
        </button>
      </form>
      <Alert message={error} />
    </section>
  );
}

const TITLES: Record<Action, (name: string) => string> = {
  roles: (name) => `Change roles of ${name}`,
  password: (name) => `Set a new password for ${name}`,
  disable: (name) => `Disable ${name}?`,
  enable: (name) => `Enable ${name}?`,
  delete: (name) => `Delete ${name}?`,
  impersonate: (name) => `Impersonate ${name}?`,
};

function UserDialog(props: {
  action: Action;
  user: User;
  self: boolean;
  onCancel: () => void;
  onDone: (message: string, user?: User) => void;
  onImpersonated: () => void;
}) {
  const { action, user } = props;
  const [roles, setRoles] = useState(user.roles.join(', '));
  const [password, setPassword] = useState('');

  const confirm = async (): Promise<void> => {
    const path = { userId: user.id };
    if (action === 'impersonate') {
      await call(() => api.POST('/admin/users/{userId}/impersonate', { params: { path } }));
      props.onImpersonated();
      return;
    }
    if (action === 'delete') {
      const { revoked } = await call(() => api.DELETE('/admin/users/{userId}', { params: { path } }));
      props.onDone(`Deleted ${user.username} and ended ${revoked} session${revoked === 1 ? '' : 's'}.`);
      return;
    }
    const body =
      action === 'roles'
        ? { roles: parseRoles(roles) }
        : action === 'password'
          ? { password }
          : { disabled: action === 'disable' };
    const updated = await call(() => api.PATCH('/admin/users/{userId}', { params: { path }, body }));
    const done: Record<Exclude<Action, 'delete' | 'impersonate'>, string> = {
      roles: `Changed the roles of ${user.username} to ${updated.roles.join(', ') || 'none'}.`,
      password: `Set a new password for ${user.username}.`,
      disable: `Disabled ${user.username}: they cannot sign in until enabled again.`,
      enable: `Enabled ${user.username}: they can sign in again.`,
    };
    props.onDone(done[action], updated);
  };

  const ends = props.self
    ? 'This ends all your own sessions too: you will be signed out.'
    : `This ends all sessions of ${user.username}.`;

  return (
    <Dialog
      title={TITLES[action](user.username)}
      danger={action === 'delete' || action === 'disable'}
      onConfirm={confirm}
      onCancel={props.onCancel}
    >
      {action === 'roles' ? <RolesField id="edit-roles" value={roles} onInput={setRoles} /> : null}
      {action === 'password' ? (
        <PasswordField id="edit-password" label="New password" value={password} onInput={setPassword} />
      ) : null}
      {action === 'impersonate' ? (
        <p>
          This browser then acts as <strong>{user.username}</strong> for a short while, to see what they see: the admin
          pages are closed meanwhile, and everything done is recorded in the audit log with you as the actor. End the
          impersonation to come back here. Their own sessions are not touched.
        </p>
      ) : (
        <p>
          {action === 'delete' ? `${user.username} is removed for good. ` : ''}
          {action === 'enable' ? `${user.username} can sign in again.` : ends}
        </p>
      )}
    </Dialog>
  );
}
