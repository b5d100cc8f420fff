import { ClientClosedError, ClientOfflineError, ErrorReply, SocketClosedUnexpectedlyError, TimeoutError } from 'redis';
import { isStoreUnavailable } from './store-errors';

function systemError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('isStoreUnavailable', () => {
  it.each([
    ['the client is offline', new ClientOfflineError()],
    ['the client is closed', new ClientClosedError()],
    ['the socket closed', new SocketClosedUnexpectedlyError()],
    ['a command timed out', new TimeoutError()],
    ['Redis is loading its data', new ErrorReply('LOADING Redis is loading the dataset in memory')],
    ['a replica was written to', new ErrorReply("READONLY You can't write against a read only replica.")],
    ['the cluster is down', new ErrorReply('CLUSTERDOWN The cluster is down')],
    ['the sentinel client knows no master', new Error('no valid master node')],
    ['Redis died mid-write', systemError('ECONNRESET', 'write ECONNRESET')],
    ['the socket was gone before the write', systemError('EPIPE', 'write EPIPE')],
    ['Redis refuses connections', systemError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379')],
    // Node's own socket errors come from the main realm: under a VM context they fail instanceof Error.
    ['a socket error from another realm', { code: 'ECONNRESET', message: 'read ECONNRESET' }],
  ])('is true when %s', (_, error) => {
    expect(isStoreUnavailable(error)).toBe(true);
  });

  it.each([
    ['a script error (a bug)', new ErrorReply('ERR Error running script')],
    ['a wrong-type reply (a bug)', new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['an ordinary error', new TypeError('x is not a function')],
    ['a file-system error', systemError('ENOENT', 'no such file')],
    ['not an error at all', 'ECONNRESET'],
  ])('is false for %s', (_, error) => {
    expect(isStoreUnavailable(error)).toBe(false);
  });
});
