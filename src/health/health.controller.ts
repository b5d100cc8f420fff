import { BeforeApplicationShutdown, Controller, Get } from '@nestjs/common';
import { ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../auth/auth.decorators';
import { StoreHealth } from '../redis/store-health';

const PING_TIMEOUT_MS = 1000;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController implements BeforeApplicationShutdown {
  private shuttingDown = false;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly store: StoreHealth,
  ) {}

  /** Readiness turns 503 as soon as shutdown starts, so the load balancer stops sending new requests. */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  /** The process is up. Never depends on Redis: restarting the service would not bring Redis back. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** 503 while the session store is unreachable or the instance is shutting down. */
  @Get('ready')
  @HealthCheck()
  @ApiServiceUnavailableResponse({ description: 'Session store unreachable, or shutting down' })
  ready(): Promise<HealthCheckResult> {
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
