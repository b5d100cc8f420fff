import { AuthService } from '../auth/auth.service';
import 'reflect-metadata';
import request from 'supertest';
import { CLIENT_IP, ControllerApp, createControllerApp, SignedIn } from '../common/controller-test-app';
import { UsersService } from '../users/users.service';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';

type Fake<T, K extends keyof T> = {
  [M in K]: T[M] extends (...args: infer A) => infer R ? jest.Mock<R, A> : never;
};

const USER_ID = 'BBBBBBBBBBBB';
const SESSION_ID = `${USER_ID}.dddddddddddddddddddddd`;
const USER = { id: USER_ID, username: 'bob', roles: ['user'], disabled: false, createdAt: '2030-01-01T00:00:00.000Z' };

describe('AdminController over HTTP', () => {
  const admin: Fake<AdminService, 'stats' | 'page' | 'userSessions' | 'revoke' | 'revokeUser' | 'auditLog'> = {
    stats: jest.fn(),
    page: jest.fn(),
    userSessions: jest.fn(),
    revoke: jest.fn(),
    revokeUser: jest.fn(),
    auditLog: jest.fn(),
  };
  const users: Fake<UsersService, 'create' | 'import' | 'list' | 'update' | 'remove'> = {
    create: jest.fn(),
    import: jest.fn(),
    list: jest.fn(),
    update: jest.fn(),
    remove: jest.fn(),
  };
  let app: ControllerApp;
  let root: SignedIn;
  let bob: SignedIn;

  beforeAll(async () => {
    app = await createControllerApp(AdminController, [
      { provide: AdminService, useValue: admin },
      { provide: UsersService, useValue: users },
      // Impersonation has its e2e suite (test/impersonation.e2e.spec.ts); here only the guards matter.
      { provide: AuthService, useValue: { impersonate: jest.fn() } },
    ]);
  });

  afterAll(() => app.close());

  beforeEach(() => {
    jest.resetAllMocks();
    root = app.signIn({ username: 'root', roles: ['admin'] });
    bob = app.signIn({ username: 'bob', roles: ['user', 'auditor'] });
  });

  const actorOf = (who: SignedIn) => ({
    userId: who.session.record.handle.userId,
    username: who.session.record.username,
  });
  /** A request as `who`, with the CSRF token unless told otherwise. */
  const as = (who: SignedIn | null, method: 'get' | 'post' | 'patch' | 'delete', path: string, csrf = true) => {
    const call = request(app.http)[method](path).set('X-Forwarded-For', CLIENT_IP);
    if (who) call.set('Cookie', who.cookie);
    if (who && csrf) call.set('X-CSRF-Token', who.csrfToken);
    return call;
  };
  const noServiceCalled = () => {
    for (const fake of [...Object.values(admin), ...Object.values(users)]) expect(fake).not.toHaveBeenCalled();
  };

  const ROUTES: ['get' | 'post' | 'patch' | 'delete', string][] = [
    ['get', '/admin/sessions/stats'],
    ['get', '/admin/sessions'],
    ['delete', `/admin/sessions/${SESSION_ID}`],
    ['get', `/admin/users/${USER_ID}/sessions`],
    ['delete', `/admin/users/${USER_ID}/sessions`],
    ['post', '/admin/users'],
    ['post', '/admin/users/import'],
    ['get', '/admin/users'],
    ['patch', `/admin/users/${USER_ID}`],
    ['delete', `/admin/users/${USER_ID}`],
    ['get', '/admin/audit'],
  ];

  describe('access', () => {
    it('401s every route without a session', async () => {
      for (const [method, path] of ROUTES) {
        const res = await as(null, method, path);
        expect([method, path, res.status, res.body]).toEqual([
          method,
          path,
          401,
          { statusCode: 401, message: 'Authentication required', error: 'Unauthorized' },
        ]);
      }
      noServiceCalled();
    });

    it('403s every route for a user without the admin role, with a valid CSRF token', async () => {
      for (const [method, path] of ROUTES) {
        const res = await as(bob, method, path);
        expect([method, path, res.status, res.body]).toEqual([
          method,
          path,
          403,
          { statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' },
        ]);
      }
      noServiceCalled();
    });

    it('403s every state-changing route for an admin without the CSRF token or with a wrong one', async () => {
      const writes = ROUTES.filter(([method]) => method !== 'get');
      expect(writes).toHaveLength(6);
      for (const [method, path] of writes) {
        for (const token of [undefined, bob.csrfToken]) {
          const call = as(root, method, path, false);
          const res = await (token === undefined ? call : call.set('X-CSRF-Token', token));
          expect([method, path, res.status, res.body]).toEqual([
            method,
            path,
            403,
            { statusCode: 403, message: 'Missing or invalid CSRF token', error: 'Forbidden' },
          ]);
        }
      }
      noServiceCalled();
    });
  });

  describe('sessions', () => {
    it('GET /admin/sessions/stats', async () => {
      const stats = { total: 2, activeLast5m: 1, activeLast15m: 2, byRole: { admin: 1 }, recentSessions: [] };
      admin.stats.mockResolvedValue(stats);
      await as(root, 'get', '/admin/sessions/stats').expect(200, stats);
      expect(admin.stats).toHaveBeenCalledWith();
    });

    it('GET /admin/sessions turns the query into numbers and passes it on', async () => {
      admin.page.mockResolvedValue({ sessions: [], nextCursor: null });
      await as(root, 'get', `/admin/sessions?limit=20&cursor=abc_-1&userId=${USER_ID}`).expect(200, {
        sessions: [],
        nextCursor: null,
      });
      expect(admin.page).toHaveBeenCalledTimes(1);
      expect({ ...admin.page.mock.calls[0][0] }).toStrictEqual({ limit: 20, cursor: 'abc_-1', userId: USER_ID });
    });

    it('GET /admin/sessions 400s a bad query, field by field', async () => {
      const res = await as(root, 'get', '/admin/sessions?limit=0&cursor=a.b&userId=short&sort=asc');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: [
          'property sort should not exist',
          'limit must not be less than 1',
          'cursor must be a value returned as nextCursor',
          'userId must be a user id',
        ],
      });
      expect(admin.page).not.toHaveBeenCalled();
    });

    it('DELETE /admin/sessions/:id ends that session as this admin, and 400s a bad id', async () => {
      admin.revoke.mockResolvedValue({ revoked: 1 });
      await as(root, 'delete', `/admin/sessions/${SESSION_ID}`).expect(200, { revoked: 1 });
      expect(admin.revoke).toHaveBeenCalledWith(
        { userId: USER_ID, hash: 'dddddddddddddddddddddd', publicId: SESSION_ID },
        actorOf(root),
        CLIENT_IP,
      );

      const res = await as(root, 'delete', `/admin/sessions/${USER_ID}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, message: 'Invalid session id', error: 'Bad Request' });
      expect(admin.revoke).toHaveBeenCalledTimes(1);
    });

    it('GET /admin/users/:userId/sessions, and 400 for a bad user id', async () => {
      admin.userSessions.mockResolvedValue({ sessions: [] });
      await as(root, 'get', `/admin/users/${USER_ID}/sessions`).expect(200, { sessions: [] });
      expect(admin.userSessions).toHaveBeenCalledWith(USER_ID);

      const res = await as(root, 'get', '/admin/users/nope/sessions');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, message: 'Invalid user id', error: 'Bad Request' });
      expect(admin.userSessions).toHaveBeenCalledTimes(1);
    });

    it('DELETE /admin/users/:userId/sessions ends them as this admin', async () => {
      admin.revokeUser.mockResolvedValue({ revoked: 4 });
      await as(root, 'delete', `/admin/users/${USER_ID}/sessions`).expect(200, { revoked: 4 });
      expect(admin.revokeUser).toHaveBeenCalledWith(USER_ID, actorOf(root), CLIENT_IP);
    });

    it('GET /admin/audit passes the page query', async () => {
      admin.auditLog.mockResolvedValue({ events: [], nextCursor: null });
      await as(root, 'get', '/admin/audit?limit=10&cursor=1700000000000-0').expect(200);
      expect({ ...admin.auditLog.mock.calls[0][0] }).toStrictEqual({ limit: 10, cursor: '1700000000000-0' });
    });
  });

  describe('users', () => {
    it('POST /admin/users creates with the body as sent (201)', async () => {
      users.create.mockResolvedValue(USER);
      const body = { username: 'bob', password: 'bob-password', roles: ['user'] };
      await as(root, 'post', '/admin/users').send(body).expect(201, USER);
      expect(users.create).toHaveBeenCalledTimes(1);
      const [dto, actor, ip] = users.create.mock.calls[0];
      expect([{ ...dto }, actor, ip]).toStrictEqual([body, actorOf(root), CLIENT_IP]);
    });

    it('POST /admin/users 400s an invalid body, field by field', async () => {
      const res = await as(root, 'post', '/admin/users').send({
        username: 'b!',
        password: 'short',
        roles: ['Admin', 'Admin'],
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: [
          'username must be 3-64 letters, digits, dots, dashes or underscores',
          'password must be longer than or equal to 8 characters',
          "All roles's elements must be unique",
          'each role must be lower-case letters, digits, - or _ (at most 32)',
        ],
      });
      expect(users.create).not.toHaveBeenCalled();
    });

    describe('POST /admin/users/import', () => {
      const HASH = `$2b$04$${'a'.repeat(53)}`;
      const importing = (body: unknown) => as(root, 'post', '/admin/users/import').send(body as object);
      const expect400 = async (body: unknown, message: string[] | string) => {
        const res = await importing(body);
        expect([res.status, res.body]).toEqual([400, { statusCode: 400, message, error: 'Bad Request' }]);
      };

      it('passes the users as sent, as this admin, and answers 200 with the outcome', async () => {
        const outcome = { created: 1, skipped: [{ username: 'Bad Name', reason: 'invalid username' }] };
        users.import.mockResolvedValue(outcome);
        const body = {
          users: [
            { username: 'carol', passwordHash: HASH, roles: ['user', 'auditor'], disabled: true },
            { username: 'Bad Name', passwordHash: 'anything at all' },
          ],
        };
        await importing(body).expect(200, outcome);
        expect(users.import).toHaveBeenCalledTimes(1);
        const [dto, actor, ip] = users.import.mock.calls[0];
        expect([JSON.parse(JSON.stringify(dto)), actor, ip]).toStrictEqual([body, actorOf(root), CLIENT_IP]);
      });

      it('takes 1,000 users in one call and 400s 1,001 or none', async () => {
        users.import.mockResolvedValue({ created: 1000, skipped: [] });
        const many = (n: number) => ({
          users: Array.from({ length: n }, (_, i) => ({ username: `u${i}`, passwordHash: 'h' })),
        });
        await importing(many(1000)).expect(200);
        await expect400(many(1001), ['users must contain no more than 1000 elements']);
        await expect400({ users: [] }, ['users must contain at least 1 elements']);
        expect(users.import).toHaveBeenCalledTimes(1);
      });

      it('400s a body of the wrong shape, field by field', async () => {
        await expect400({}, [
          'each user must be an object',
          'users must contain no more than 1000 elements',
          'users must contain at least 1 elements',
          'users must be an array',
        ]);
        await expect400({ users: { username: 'carol', passwordHash: HASH } }, [
          'users must contain no more than 1000 elements',
          'users must contain at least 1 elements',
          'users must be an array',
        ]);
        // Said twice (by the check of the list and by the check of each user), but a 400 all the same.
        const notObject = ['each user must be an object', 'users.each user must be an object'];
        await expect400({ users: ['carol'] }, notObject);
        await expect400({ users: [null] }, notObject);
        await expect400({ users: [[{ username: 'carol', passwordHash: HASH }]] }, ['each user must be an object']);
        await expect400(
          { users: [{ username: 7, passwordHash: ['x'], roles: 'admin', disabled: 'yes', isAdmin: true }] },
          [
            'users.0.property isAdmin should not exist',
            'users.0.username must be shorter than or equal to 256 characters',
            'users.0.username must be a string',
            'users.0.passwordHash must be shorter than or equal to 512 characters',
            'users.0.passwordHash must be a string',
            'users.0.roles must be an array',
            'users.0.roles must contain no more than 64 elements',
            'users.0.disabled must be a boolean value',
          ],
        );
        await expect400({ users: [{ username: 'carol', passwordHash: HASH, roles: [7, 'r'.repeat(65)] }] }, [
          'users.0.each value in roles must be a string',
          'users.0.each value in roles must be shorter than or equal to 64 characters',
        ]);
        await expect400({ users: [{ username: 'carol' }], extra: 1 }, [
          'property extra should not exist',
          'users.0.passwordHash must be shorter than or equal to 512 characters',
          'users.0.passwordHash must be a string',
        ]);
        expect(users.import).not.toHaveBeenCalled();
      });

      it('400s a name or hash longer than any it could take', async () => {
        await expect400({ users: [{ username: 'u'.repeat(257), passwordHash: HASH }] }, [
          'users.0.username must be shorter than or equal to 256 characters',
        ]);
        await expect400({ users: [{ username: 'carol', passwordHash: `${HASH}${'a'.repeat(453)}` }] }, [
          'users.0.passwordHash must be shorter than or equal to 512 characters',
        ]);
        expect(users.import).not.toHaveBeenCalled();
      });
    });

    it('GET /admin/users pages by number', async () => {
      users.list.mockResolvedValue({ users: [USER], nextCursor: null });
      await as(root, 'get', '/admin/users?limit=5&cursor=10').expect(200, { users: [USER], nextCursor: null });
      await as(root, 'get', '/admin/users').expect(200);
      expect(users.list.mock.calls).toEqual([
        [5, 10],
        [undefined, 0],
      ]);
    });

    it('PATCH /admin/users/:userId updates, and 400s a wrong type', async () => {
      users.update.mockResolvedValue({ ...USER, disabled: true });
      await as(root, 'patch', `/admin/users/${USER_ID}`).send({ disabled: true }).expect(200);
      const [userId, dto, actor, ip] = users.update.mock.calls[0];
      expect([userId, { ...dto }, actor, ip]).toStrictEqual([USER_ID, { disabled: true }, actorOf(root), CLIENT_IP]);

      const res = await as(root, 'patch', `/admin/users/${USER_ID}`).send({ disabled: 'yes' });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        statusCode: 400,
        message: ['disabled must be a boolean value'],
        error: 'Bad Request',
      });
      expect(users.update).toHaveBeenCalledTimes(1);
    });

    it('DELETE /admin/users/:userId removes as this admin', async () => {
      users.remove.mockResolvedValue({ deleted: true, revoked: 2 });
      await as(root, 'delete', `/admin/users/${USER_ID}`).expect(200, { deleted: true, revoked: 2 });
      expect(users.remove).toHaveBeenCalledWith(USER_ID, actorOf(root), CLIENT_IP);
    });
  });
});
