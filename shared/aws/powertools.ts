import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** One logger for every function; settings come from POWERTOOLS_* environment variables. */
export const logger = new Logger({ serviceName: 'pullwarden' });

/** CloudWatch metrics (EMF) in the `pullwarden` namespace unless POWERTOOLS_METRICS_NAMESPACE says otherwise. */
export const metrics = new Metrics({ namespace: 'pullwarden', serviceName: 'pullwarden' });

export interface MetricPoint {
  name: string;
  unit: 'Count' | 'None' | 'Milliseconds' | 'Percent';
  value: number;
  /** A metric about one registry, node group or rule carries it as a dimension; others only the service's. */
  dimensions?: Readonly<Record<string, string>>;
}

/**
 * Writes the points as EMF at once: dimensioned points each as a metric of their own, the others
 * together. Handlers publish once per invocation, so no middleware has to flush (or warn about an
 * invocation that measured nothing).
 */
export function publishMetrics(points: readonly MetricPoint[]): void {
  let stored = 0;
  for (const point of points) {
    if (point.dimensions === undefined) {
      metrics.addMetric(point.name, point.unit, point.value);
      stored++;
      continue;
    }
    const single = metrics.singleMetric();
    for (const [name, value] of Object.entries(point.dimensions)) single.addDimension(name, value);
    single.addMetric(point.name, point.unit, point.value);
  }
  if (stored > 0) metrics.publishStoredMetrics();
}
