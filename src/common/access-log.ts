import type { NextFunction, Request, Response } from 'express';
import { JsonLogger } from './json-logger';

/** One line per request when it finishes: no headers, no query values, no body. */
export function accessLog(logger: JsonLogger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      logger.event('log', 'HTTP', {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        ip: req.ip,
      });
    });
    next();
  };
}
