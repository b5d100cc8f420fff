import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  MaxCommandRedirectionsError,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from 'redis';

const UNAVAILABLE = [
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  MaxCommandRedirectionsError,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
];

// A command in flight when Redis dies can be rejected with the socket's own error.
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
  'EAI_AGAIN',
]);

// Replies Redis gives while it cannot serve yet: loading after restart, replica not promoted, cluster resharding.
const TRANSIENT_REPLY = /^(LOADING|READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|BUSY)\b/;

/** True when the error means "the session store cannot be reached right now" (answer 503, not 500). */
export function isStoreUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (UNAVAILABLE.some((cls) => error instanceof cls)) return true;
  // Socket errors are checked by shape, not instanceof: they may come from another realm (a VM context).
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  // The sentinel client's plain Error when no master is known (yet) during a failover.
  if (message === 'no valid master node') return true;
  // node-redis's own refusal once a connection holds commandsQueueMaxLength commands (Redis not answering).
  if (message === 'The queue is full') return true;
  return error instanceof ErrorReply && TRANSIENT_REPLY.test(String(message));
}

export const STORE_UNAVAILABLE_BODY = {
  statusCode: 503,
  message: 'Session store unavailable, try again shortly',
  error: 'Service Unavailable',
};
