import { BadRequestException, PipeTransform } from '@nestjs/common';

/** `:deviceId`: the same shape login accepts (LoginDto), else 400. */
export class DeviceIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(value)) {
      throw new BadRequestException('Invalid device id');
    }
    return value;
  }
}
