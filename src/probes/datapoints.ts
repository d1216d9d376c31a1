/**
 * App datapoints of a query result, shared by the database kinds (mysql, postgres, sqlite): each gives
 * its rows as arrays of cells, so one reading serves all three.
 */

/**
 * appDatapoints turns a query result into app datapoints: `rows` for a result set, plus `value` when it is
 * a single numeric cell (`SELECT COUNT(*) FROM jobs WHERE state = 'queued'` exposes the queue length), and
 * `affected_rows` for a statement that changes rows.
 */
export function appDatapoints(result: unknown): Record<string, number> {
  if (Array.isArray(result)) {
    const app: Record<string, number> = { rows: result.length };
    const only = result.length === 1 ? result[0] : undefined;
    if (Array.isArray(only) && only.length === 1) {
      const value = numeric(only[0]);
      if (value !== undefined) app.value = value;
    }
    return app;
  }
  if (
    typeof result === 'object' &&
    result !== null &&
    typeof (result as { affectedRows?: unknown }).affectedRows === 'number'
  ) {
    return { affected_rows: (result as { affectedRows: number }).affectedRows };
  }
  return {};
}

function numeric(cell: unknown): number | undefined {
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : undefined;
  if (typeof cell === 'bigint') return Number(cell);
  // DECIMAL and large BIGINT values arrive as strings.
  if (typeof cell === 'string' && /^-?\d+(\.\d+)?$/.test(cell)) return Number(cell);
  return undefined;
}
