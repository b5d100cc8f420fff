import { BadRequestException, PipeTransform } from '@nestjs/common';
import { handleFromPublicId, isUserId, SessionHandle } from '../session/session-keys';

/** `:id` of a session: a public session id, else 400. */
export class SessionIdPipe implements PipeTransform<string, SessionHandle> {
  transform(value: string): SessionHandle {
    const handle = typeof value === 'string' ? handleFromPublicId(value) : null;
    if (!handle) throw new BadRequestException('Invalid session id');
    return handle;
  }
}

/** `:userId`: a user id, else 400. */
export class UserIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !isUserId(value)) throw new BadRequestException('Invalid user id');
    return value;
  }
}

/** `:deviceId`: the same shape login accepts, else 400. */
export class DeviceIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(value)) {
      throw new BadRequestException('Invalid device id');
    }
    return value;
  }
}
