import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client';

export interface Script {
  source: string;
  sha: string;
}

export function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** EVALSHA with a fallback to EVAL the first time a server has not seen the script. */
export async function runScript<T>(
  client: RedisClient,
  s: Script,
  keys: string[],
  args: (string | number)[],
): Promise<T> {
  const options = { keys, arguments: args.map(String) };
  try {
    return (await client.evalSha(s.sha, options)) as T;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return (await client.eval(s.source, options)) as T;
    }
    throw error;
  }
}
