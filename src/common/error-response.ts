import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse, ApiSchema } from '@nestjs/swagger';

/**
 * The body of every error answer, as AllExceptionsFilter, the body parser's handler, the input
 * guard and the session middleware write it. Stated property by property (not left to the Swagger
 * plugin): the plugin cannot express `string | string[]`.
 */
@ApiSchema({ name: 'ErrorResponse' })
export class ErrorResponse {
  @ApiProperty({ type: 'integer', description: 'The HTTP status code, repeated.', example: 400 })
  statusCode!: number;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'What went wrong; a list when several fields of a body or query are invalid.',
    example: ['username must be longer than or equal to 1 characters'],
  })
  message!: string | string[];

  @ApiProperty({ description: "The status's reason phrase.", example: 'Bad Request' })
  error!: string;

  @ApiProperty({
    required: false,
    description:
      'A machine-readable reason where a client acts on it: `reauthentication_required` (403: confirm the ' +
      'password with POST /auth/reauthenticate, then retry); `impersonation_restricted` (403: not in an ' +
      'impersonation session; end it with POST /auth/impersonation/end).',
    example: 'reauthentication_required',
  })
  code?: string;
}

/** An error answer of an operation (or of every operation of a controller), with the one error schema. */
export function ApiError(status: number, description: string): MethodDecorator & ClassDecorator {
  return applyDecorators(ApiResponse({ status, description, type: ErrorResponse }));
}
