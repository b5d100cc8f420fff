/* eslint-disable */
export default async () => {
  const t = {
    ['./users/users.dto']: await import('./users/users.dto.js'),
    ['./auth/auth.dto']: await import('./auth/auth.dto.js'),
  };
  return {
    '@nestjs/swagger': {
      models: [
        [
          import('./users/users.dto.js'),
          {
            CreateUserDto: {
              username: {
                required: true,
                type: () => String,
                description: '3-64 letters, digits, dots, dashes or underscores; unique regardless of case.',
              },
              password: {
                required: true,
                type: () => String,
                description: '8 to 1024 characters.',
                minLength: 8,
                maxLength: 1024,
              },
              roles: {
                required: false,
                type: () => [String],
                description: 'Defaults to ["user"]. `admin` and `user` are built in; others may be added.',
                uniqueItems: true,
                maxItems: 16,
              },
            },
            UpdateUserDto: {
              roles: { required: false, type: () => [String], uniqueItems: true, maxItems: 16 },
              password: { required: false, type: () => String, minLength: 8, maxLength: 1024 },
              disabled: { required: false, type: () => Boolean },
            },
            UserDto: {
              id: { required: true, type: () => String },
              username: { required: true, type: () => String },
              roles: { required: true, type: () => [String] },
              disabled: { required: true, type: () => Boolean },
              createdAt: { required: true, type: () => String, description: 'ISO 8601.' },
            },
            UserListDto: {
              users: { required: true, type: () => [t['./users/users.dto'].UserDto] },
              nextCursor: {
                required: true,
                type: () => String,
                nullable: true,
                description: 'Pass as `cursor` for the next page; null on the last page.',
              },
            },
            PageQueryDto: {
              limit: {
                required: false,
                type: () => Number,
                description: '1-1000, default 100.',
                minimum: 1,
                maximum: 1000,
              },
              cursor: { required: false, type: () => String, pattern: '^\\d{1,9}$' },
            },
          },
        ],
        [
          import('./auth/auth.dto.js'),
          {
            LoginDto: {
              username: { required: true, type: () => String, minLength: 1, maxLength: 128 },
              password: { required: true, type: () => String, minLength: 1, maxLength: 1024 },
              deviceId: {
                required: false,
                type: () => String,
                description:
                  "The client's stable id for this device; a new login from the same device ends the older session.",
                pattern: '^[A-Za-z0-9._:-]{1,128}$',
              },
            },
            SessionUserDto: {
              id: { required: true, type: () => String },
              username: { required: true, type: () => String },
              roles: { required: true, type: () => [String] },
            },
            NewSessionDto: {
              id: {
                required: true,
                type: () => String,
                description: 'The public session id: names the session in the API, cannot be turned into a cookie.',
              },
              deviceId: { required: true, type: () => String, nullable: true },
              createdAt: { required: true, type: () => String, description: 'ISO 8601.' },
              expiresAt: {
                required: true,
                type: () => String,
                description:
                  'When the session ends unless used again (idle timeout), or at the absolute timeout. ISO 8601.',
              },
            },
            LoginResponseDto: {
              user: { required: true, type: () => t['./auth/auth.dto'].SessionUserDto },
              session: { required: true, type: () => t['./auth/auth.dto'].NewSessionDto },
              csrfToken: {
                required: true,
                type: () => String,
                description: 'Send as X-CSRF-Token on every state-changing request of this session.',
              },
            },
            CurrentSessionDto: {
              lastActivityAt: {
                required: true,
                type: () => String,
                description: 'ISO 8601; may lag by up to SESSION_TOUCH_INTERVAL.',
              },
              requestCount: {
                required: true,
                type: () => Number,
                description: 'Requests made with this session; may lag by up to SESSION_TOUCH_INTERVAL.',
              },
            },
            ProfileDto: {
              userId: { required: true, type: () => String },
              username: { required: true, type: () => String },
              roles: { required: true, type: () => [String] },
              session: { required: true, type: () => t['./auth/auth.dto'].CurrentSessionDto },
            },
            CsrfDto: { csrfToken: { required: true, type: () => String } },
            LogoutDto: { loggedOut: { required: true, type: () => Boolean } },
          },
        ],
      ],
      controllers: [
        [
          import('./admin/admin.controller.js'),
          {
            AdminController: {
              createUser: {
                summary: 'Creates a user; roles default to ["user"].',
                type: t['./users/users.dto'].UserDto,
              },
              listUsers: {
                summary: 'Users in creation order, one page at a time.',
                type: t['./users/users.dto'].UserListDto,
              },
            },
          },
        ],
        [
          import('./auth/auth.controller.js'),
          {
            AuthController: {
              login: {
                summary: 'Logs in: sets the session cookie (a new id every time) and returns the CSRF token.',
                type: t['./auth/auth.dto'].LoginResponseDto,
              },
              logout: {
                summary: 'Ends the current session everywhere and clears the cookie.',
                type: t['./auth/auth.dto'].LogoutDto,
              },
              profile: {
                summary: "Who is logged in, and this session's figures.",
                type: t['./auth/auth.dto'].ProfileDto,
              },
              csrf: {
                summary: 'The CSRF token of the current session, for clients that lost it.',
                type: t['./auth/auth.dto'].CsrfDto,
              },
            },
          },
        ],
      ],
    },
  };
};
