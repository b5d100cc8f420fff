import { ValidationPipe } from '@nestjs/common';

/**
 * The one validation pipe of the service (APP_PIPE in AppModule): unknown fields are refused, not
 * dropped, so a typo in a client is a 400; every failing field is reported at once. Controller
 * specs build theirs from here too, so they see the bodies production answers.
 */
export function validationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    stopAtFirstError: false,
  });
}
