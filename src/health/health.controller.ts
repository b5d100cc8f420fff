import { BeforeApplicationShutdown, Controller, Get, Logger } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../auth/auth.decorators';
import { ApiError, ErrorResponse } from '../common/error-response';
import { AppConfig } from '../config/config';
import { StoreHealth } from '../redis/store-health';
import { HealthResultDto } from './health.dto';

const PING_TIMEOUT_MS = 1000;
/** The session middleware reads the store for any request with a session cookie, probes included. */
const COOKIE_WHILE_STORE_DOWN =
  'Only for a request that carries a session cookie while the session store cannot be reached (probes send none)';
/** Documented here with the answers below (terminus would add its own inline schemas). */
const HEALTH_CHECK = { noCache: true, swaggerDocumentation: false };

@ApiTags('health')
@ApiExtraModels(HealthResultDto, ErrorResponse)
@Public()
@Controller('health')
export class HealthController implements BeforeApplicationShutdown {
  private readonly logger = new Logger(HealthController.name);
  private shuttingDown = false;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly store: StoreHealth,
    private readonly config: AppConfig,
  ) {}

  /**
   * Readiness turns 503 as soon as shutdown starts; the listener stays open for SHUTDOWN_DRAIN more
   * seconds (Nest closes it only after this hook), so a load balancer that polls readiness stops
   * sending before connections are refused.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    const { shutdownDrainMs } = this.config;
    if (shutdownDrainMs <= 0) return;
    this.logger.log(`Shutting down: readiness is 503, serving for ${shutdownDrainMs / 1000} s more (SHUTDOWN_DRAIN)`);
    await new Promise((resolve) => setTimeout(resolve, shutdownDrainMs));
  }

  /** The process is up. Never depends on Redis: restarting the service would not bring Redis back. */
  @Get('live')
  @HealthCheck(HEALTH_CHECK)
  @ApiOkResponse({ type: HealthResultDto, description: 'The process is up' })
  @ApiError(503, COOKIE_WHILE_STORE_DOWN)
  getLiveness(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** 503 while the session store is unreachable or the instance is shutting down. */
  @Get('ready')
  @HealthCheck(HEALTH_CHECK)
  @ApiOkResponse({ type: HealthResultDto, description: 'Ready: the session store answers and no shutdown has begun' })
  @ApiResponse({
    status: 503,
    description:
      'Not ready: the health result names the check that is down (store unreachable, or shutting down); ' +
      'an ErrorResponse when the request carried a session cookie while the store cannot be reached',
    schema: { oneOf: [{ $ref: getSchemaPath(HealthResultDto) }, { $ref: getSchemaPath(ErrorResponse) }] },
  })
  getReadiness(): Promise<HealthCheckResult> {
    return this.health.check([() => this.checkStore(), () => this.checkRunning()]);
  }

  private async checkStore() {
    const indicator = this.indicators.check('store');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), PING_TIMEOUT_MS);
        }),
      ]);
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: `unreachable: ${(error as Error).message}` });
    } finally {
      clearTimeout(timer);
    }
  }

  private checkRunning() {
    const indicator = this.indicators.check('lifecycle');
    return this.shuttingDown ? indicator.down({ message: 'shutting down' }) : indicator.up();
  }
}
