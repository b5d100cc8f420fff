import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';

export type Env = Record<string, string | undefined>;

type EnvClass<T> = new () => T;

/** Thrown when the environment holds bad values; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((error) =>
    Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(error.property) ? message : `${error.property}: ${message}`,
    ),
  );
}

/**
 * Reads one namespace of the environment into its validation class. Empty strings count as unset,
 * so `FOO=` in a compose file falls back to the default instead of failing as "not a number".
 */
export function readEnv<T extends object>(cls: EnvClass<T>, env: Env): { value: T; problems: string[] } {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const value = plainToInstance(cls, present, { exposeDefaultValues: true, excludeExtraneousValues: false });
  const problems = describe(validateSync(value, { skipMissingProperties: false, forbidUnknownValues: false }));
  return { value, problems };
}

export function parseBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
}

export function parseList(value: unknown): unknown {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean)
    : value;
}
