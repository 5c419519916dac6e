import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** One logger for every function; settings come from POWERTOOLS_* environment variables. */
export const logger = new Logger({ serviceName: 'pullwarden' });

/** CloudWatch metrics (EMF) in the `pullwarden` namespace unless POWERTOOLS_METRICS_NAMESPACE says otherwise. */
export const metrics = new Metrics({ namespace: 'pullwarden', serviceName: 'pullwarden' });

export interface MetricPoint {
  name: string;
  unit: 'Count' | 'None' | 'Milliseconds';
  value: number;
  /** A metric about one registry carries it as a dimension; the others only the service's. */
  registry?: string;
}

export function publishMetrics(points: readonly MetricPoint[]): void {
  for (const point of points) {
    if (point.registry === undefined) {
      metrics.addMetric(point.name, point.unit, point.value);
      continue;
    }
    const single = metrics.singleMetric();
    single.addDimension('Registry', point.registry);
    single.addMetric(point.name, point.unit, point.value);
  }
}
