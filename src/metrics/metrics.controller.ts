import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators';
import { ApiError } from '../common/error-response';
import { MetricsService } from './metrics.service';

/** Prometheus scrape endpoint. Public like /health: keep it off the public network at the proxy. */
@ApiTags('metrics')
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /** Request counts and latency, live sessions, logins, failures and store errors, in Prometheus text format. */
  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOkResponse({
    description: 'Prometheus text exposition format 0.0.4',
    content: { 'text/plain': { schema: { type: 'string', example: 'sessions_active 42\n' } } },
  })
  @ApiError(
    503,
    'Only for a request that carries a session cookie while the session store cannot be reached (scrapers send none)',
  )
  getMetrics(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
