import { useEffect, useState } from 'preact/hooks';
import { allUsers, describeError, type User } from './api';
import { setQuery } from './router';

/** Every user, for a filter: loaded once per page visit. */
export function useUsers(): { users: User[]; error: string | undefined } {
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    allUsers().then(setUsers, (failure: unknown) =>
      setError(`The list of users could not be loaded, so the User filter is incomplete. ${describeError(failure)}`),
    );
  }, []);
  return { users, error };
}

/** The User filter of a page: a select of "All users" or one of them, kept in the `userId` query. */
export function UserSelect(props: { id: string; users: User[]; value: string }) {
  const known = props.users.some((user) => user.id === props.value);
  return (
    <div class="field">
      <label for={props.id}>User</label>
      <select
        id={props.id}
        value={props.value}
        onChange={(event) => setQuery({ userId: event.currentTarget.value || undefined })}
      >
        <option value="">All users</option>
        {props.value && !known ? <option value={props.value}>{props.value}</option> : null}
        {props.users.map((user) => (
          <option key={user.id} value={user.id}>
            {user.username}
          </option>
        ))}
      </select>
    </div>
  );
}
