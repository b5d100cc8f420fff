import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * 429 with the seconds the client should wait. Services throw it and know nothing of headers;
 * the exception filter turns `retryAfter` into Retry-After.
 */
export class TooManyRequestsException extends HttpException {
  constructor(
    message: string,
    readonly retryAfter: number,
  ) {
    super(
      { statusCode: HttpStatus.TOO_MANY_REQUESTS, message, error: 'Too Many Requests' },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
