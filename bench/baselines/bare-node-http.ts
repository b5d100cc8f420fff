import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

/**
 * Baseline c: GET /auth/verify's 200 on node:http alone, with no framework, no cookie check and no
 * Redis. What is left is what any Node route pays (loopback send and receive, node's HTTP parser
 * and writer): the ceiling the service's verify can come near but not pass.
 */
const VERIFY_PATH = '/auth/verify';

// The headers of the service's verify 200 in production, in its order: helmet's API headers
// (configure-app.ts), no-store, the request id, then the session's user, here from constants.
const BEFORE_ID = [
  'Content-Security-Policy',
  "default-src 'none';frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy',
  'same-origin',
  'Referrer-Policy',
  'no-referrer',
  'Strict-Transport-Security',
  'max-age=31536000; includeSubDomains',
  'X-Content-Type-Options',
  'nosniff',
  'X-Frame-Options',
  'DENY',
  'Cache-Control',
  'no-store',
];
const AFTER_ID = [
  'X-User-Id',
  'AAAAAAAAAAAA',
  'X-User-Name',
  'bench-admin',
  'X-User-Roles',
  'admin,user',
  'X-Session-Id',
  'AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
  'Content-Length',
  '0',
];

const server = createServer((req, res) => {
  if (req.url === VERIFY_PATH) {
    // The bench sends no X-Request-Id, so the service makes a new one for every request.
    res.writeHead(200, [...BEFORE_ID, 'X-Request-Id', randomUUID(), ...AFTER_ID]);
  } else {
    res.writeHead(404, ['Content-Length', '0']);
  }
  res.end();
});

// Exit 0 once the server is closed (not on the signal itself), so that --cpu-prof can write its profile.
const stop = (): void => {
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

server.listen(Number(process.env.PORT ?? 3002), process.env.HOST ?? '127.0.0.1');
