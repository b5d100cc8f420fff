import { ApiProperty, SchemaObject } from '@nestjs/swagger';

/** One check (`store`, `lifecycle`) by name. */
const CHECK: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['up', 'down'] },
    message: { type: 'string', description: 'Why the check is down.' },
  },
};

/** A health check's answer, as @nestjs/terminus writes it. */
export class HealthResultDto {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'] })
  status!: string;

  @ApiProperty({ type: 'object', additionalProperties: CHECK, description: 'The checks that are up.' })
  info?: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: CHECK, description: 'The checks that are down.' })
  error?: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: CHECK, description: 'Every check.' })
  details!: Record<string, unknown>;
}
