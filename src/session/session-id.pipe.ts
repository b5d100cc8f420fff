import { BadRequestException, PipeTransform } from '@nestjs/common';
import { handleFromPublicId, SessionHandle } from './session-ids';

/** `:id` of a session: a public session id, else 400. */
export class SessionIdPipe implements PipeTransform<string, SessionHandle> {
  transform(value: string): SessionHandle {
    const handle = typeof value === 'string' ? handleFromPublicId(value) : null;
    if (!handle) throw new BadRequestException('Invalid session id');
    return handle;
  }
}
