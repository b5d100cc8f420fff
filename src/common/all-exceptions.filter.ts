import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { isStoreUnavailable, STORE_UNAVAILABLE_BODY } from '../redis/store-errors';
import { TooManyRequestsException } from './too-many-requests.exception';

/**
 * The one global filter: HTTP exceptions pass through as Nest renders them (a 429 with its
 * Retry-After, any other 503 with one second); a store outage becomes 503 instead of 500; anything
 * else is logged here and answered without a stack or library name.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    if (exception instanceof HttpException) {
      if (exception instanceof TooManyRequestsException) res.set('Retry-After', String(exception.retryAfter));
      // Every 503 is a short wait (a busy hasher, a failing readiness check): say so, as for a store outage.
      else if (exception.getStatus() === 503) res.set('Retry-After', '1');
      const body = exception.getResponse();
      res
        .status(exception.getStatus())
        .json(
          typeof body === 'string' ? { statusCode: exception.getStatus(), message: body, error: exception.name } : body,
        );
      return;
    }
    if (isStoreUnavailable(exception)) {
      res.status(503).set('Retry-After', '1').json(STORE_UNAVAILABLE_BODY);
      return;
    }
    // The log gets the error's type and stack; the client only the generic body below.
    this.logger.error(exception instanceof Error ? exception : String(exception));
    res.status(500).json({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
  }
}
