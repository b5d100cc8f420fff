/* eslint-disable */
export default async () => {
  const t = {
    ['./users/users.dto']: await import('./users/users.dto.js'),
    ['./auth/auth.dto']: await import('./auth/auth.dto.js'),
    ['./admin/admin.dto']: await import('./admin/admin.dto.js'),
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
            DeletedUserDto: {
              deleted: { required: true, type: () => Boolean },
              revoked: { required: true, type: () => Number, description: 'Sessions of the user that were ended.' },
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
            OwnSessionDto: {
              id: { required: true, type: () => String },
              deviceId: { required: true, type: () => String, nullable: true },
              userAgent: {
                required: true,
                type: () => String,
                description: 'Browser and OS as parsed from the User-Agent at login, e.g. "Firefox 128.0 on Linux".',
              },
              browser: { required: true, type: () => String },
              os: { required: true, type: () => String },
              ip: { required: true, type: () => String },
              createdAt: { required: true, type: () => String },
              lastActivityAt: { required: true, type: () => String },
              expiresAt: { required: true, type: () => String },
              current: {
                required: true,
                type: () => Boolean,
                description: 'True for the session this request was made with.',
              },
            },
            OwnSessionsDto: { sessions: { required: true, type: () => [t['./auth/auth.dto'].OwnSessionDto] } },
            RevokedDto: {
              revoked: { required: true, type: () => Number, description: 'How many sessions were ended.' },
            },
          },
        ],
        [
          import('./admin/admin.dto.js'),
          {
            SessionPageQueryDto: {
              limit: {
                required: false,
                type: () => Number,
                description: '1-500, default 50.',
                minimum: 1,
                maximum: 500,
              },
              cursor: {
                required: false,
                type: () => String,
                description: '`nextCursor` of the previous page.',
                maxLength: 200,
                pattern: '^[A-Za-z0-9_-]+$',
              },
              userId: {
                required: false,
                type: () => String,
                description: "Only this user's sessions.",
                pattern: '^[A-Za-z0-9_-]{12}$',
              },
            },
            AuditQueryDto: {
              limit: {
                required: false,
                type: () => Number,
                description: '1-500, default 100.',
                minimum: 1,
                maximum: 500,
              },
              cursor: {
                required: false,
                type: () => String,
                description: '`nextCursor` of the previous page.',
                pattern: '^\\d{1,16}-\\d{1,10}$',
              },
            },
            AdminSessionDto: {
              id: { required: true, type: () => String },
              userId: { required: true, type: () => String },
              username: { required: true, type: () => String },
              roles: { required: true, type: () => [String] },
              deviceId: { required: true, type: () => String, nullable: true },
              userAgent: { required: true, type: () => String },
              ip: { required: true, type: () => String },
              createdAt: { required: true, type: () => String },
              lastActivityAt: { required: true, type: () => String },
              expiresAt: { required: true, type: () => String },
              requestCount: {
                required: true,
                type: () => Number,
                description: 'May lag by up to SESSION_TOUCH_INTERVAL.',
              },
            },
            AdminSessionPageDto: {
              sessions: { required: true, type: () => [t['./admin/admin.dto'].AdminSessionDto] },
              nextCursor: { required: true, type: () => String, nullable: true },
            },
            AdminSessionListDto: { sessions: { required: true, type: () => [t['./admin/admin.dto'].AdminSessionDto] } },
            RecentSessionDto: {
              id: { required: true, type: () => String },
              userId: { required: true, type: () => String },
              username: { required: true, type: () => String },
              lastActivityAt: { required: true, type: () => String },
            },
            SessionStatsDto: {
              total: { required: true, type: () => Number, description: 'Live sessions.' },
              activeLast5m: { required: true, type: () => Number },
              activeLast15m: { required: true, type: () => Number },
              byRole: {
                required: true,
                type: 'object',
                additionalProperties: { type: 'number' },
                description: 'Live sessions per role (a session of a user with two roles counts for both).',
              },
              recentSessions: {
                required: true,
                type: () => [t['./admin/admin.dto'].RecentSessionDto],
                description: 'Up to 100, newest activity first.',
              },
            },
            AuditActorDto: {
              userId: { required: true, type: () => String },
              username: { required: true, type: () => String },
            },
            AuditEventDto: {
              id: { required: true, type: () => String },
              type: { required: true, type: () => String },
              at: { required: true, type: () => String },
              actor: {
                required: true,
                type: () => t['./admin/admin.dto'].AuditActorDto,
                nullable: true,
                description: 'Null when the service did it (expiry).',
              },
              subject: {
                required: true,
                type: () => String,
                description: 'A public session id, a user id, or the username a failed login named.',
              },
              ip: { required: true, type: () => String, nullable: true },
              detail: { required: true, type: () => String, nullable: true },
            },
            AuditPageDto: {
              events: { required: true, type: () => [t['./admin/admin.dto'].AuditEventDto] },
              nextCursor: { required: true, type: () => String, nullable: true },
            },
          },
        ],
      ],
      controllers: [
        [
          import('./admin/admin.controller.js'),
          {
            AdminController: {
              stats: {
                summary: 'Live counts, O(log n), and the 100 most recently active sessions.',
                type: t['./admin/admin.dto'].SessionStatsDto,
              },
              sessions: {
                summary: "Every session, newest activity first, a page at a time; or one user's with `userId`.",
                type: t['./admin/admin.dto'].AdminSessionPageDto,
              },
              revokeSession: { summary: 'Ends any session.', type: t['./auth/auth.dto'].RevokedDto },
              userSessions: { summary: "One user's live sessions.", type: t['./admin/admin.dto'].AdminSessionListDto },
              revokeUserSessions: {
                summary: "Ends all of one user's sessions.",
                type: t['./auth/auth.dto'].RevokedDto,
              },
              createUser: {
                summary: 'Creates a user; roles default to ["user"].',
                type: t['./users/users.dto'].UserDto,
              },
              listUsers: {
                summary: 'Users in creation order, one page at a time.',
                type: t['./users/users.dto'].UserListDto,
              },
              updateUser: {
                summary: "Changes roles, password or disabled; any change ends all the user's sessions.",
                type: t['./users/users.dto'].UserDto,
              },
              deleteUser: {
                summary: 'Deletes a user and ends all their sessions.',
                type: t['./users/users.dto'].DeletedUserDto,
              },
              auditLog: { summary: 'The audit log, newest first.', type: t['./admin/admin.dto'].AuditPageDto },
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
              sessions: {
                summary: "The caller's live sessions on every device, newest activity first.",
                type: t['./auth/auth.dto'].OwnSessionsDto,
              },
              revokeOthers: {
                summary: "Ends all the caller's sessions except the current one.",
                type: t['./auth/auth.dto'].RevokedDto,
              },
              revokeOwn: { summary: "Ends one of the caller's own sessions.", type: t['./auth/auth.dto'].RevokedDto },
              revokeDevice: {
                summary: "Ends the caller's session(s) on one device.",
                type: t['./auth/auth.dto'].RevokedDto,
              },
            },
          },
        ],
      ],
    },
  };
};
