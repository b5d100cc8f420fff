import { AsyncLocalStorage } from 'node:async_hooks';

interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The id of the request being served, for every log line written while serving it. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** Runs the rest of a request's handling with its id visible to currentRequestId(). */
export function withRequestId(requestId: string, next: () => void): void {
  storage.run({ requestId }, next);
}
