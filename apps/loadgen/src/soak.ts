/**
 * The memory trend of a soak: an ordinary least-squares line through the
 * samples after warm-up, its slope in MiB per hour and the slope's 95 %
 * confidence interval (Student's t), so a run reports how sure it is, not
 * only a number.
 */

/** The fitted line over (t seconds, MiB) points. */
export interface LineFit {
  /** MiB per second. */
  readonly slope: number;
  /** MiB at t = 0. */
  readonly intercept: number;
  /** Half the 95 % confidence interval of the slope, MiB per second. */
  readonly slopeHalfWidth: number;
  readonly samples: number;
}

/** Two-sided 95 % Student's t for `df` degrees of freedom (tabled to 30, then the normal's 1.96). */
function t95(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
  return df >= 1 && df <= 30 ? table[df - 1]! : df > 30 ? 1.96 + 2.4 / df : Infinity;
}

/** Least squares through the points; undefined with fewer than 3. */
export function fitLine(points: readonly (readonly [number, number])[]): LineFit | undefined {
  const n = points.length;
  if (n < 3) return undefined;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  for (const [x, y] of points) sse += (y - (intercept + slope * x)) ** 2;
  const standardError = Math.sqrt(sse / (n - 2) / sxx);
  return { slope, intercept, slopeHalfWidth: t95(n - 2) * standardError, samples: n };
}
