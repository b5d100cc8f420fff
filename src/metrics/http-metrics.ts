import type { NextFunction, Request, Response } from 'express';
import { MetricsService } from './metrics.service';

/** Duration of every request, labelled by the matched route pattern (never the raw path: ids would explode the label set). */
export function httpMetrics(metrics: MetricsService) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
