import { BadRequestException, PipeTransform } from '@nestjs/common';
import { isUserId } from './user-ids';

/** `:userId`: a user id, else 400. */
export class UserIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !isUserId(value)) throw new BadRequestException('Invalid user id');
    return value;
  }
}
