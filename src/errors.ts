/**
 * ExporterError is the base of every error probex throws on purpose. Each subclass carries a stable
 * `code` (as undici does) so callers and tests branch on the code, never on the message text.
 */
export class ExporterError extends Error {
  override name = 'ExporterError';
  code = 'EXPORTER';
}

/** ConfigError: the configuration is invalid. The message lists every failing path. */
export class ConfigError extends ExporterError {
  override name = 'ConfigError';
  override code = 'EXPORTER_CONFIG_INVALID';
  /** issues holds one `path: message` line per problem found. */
  readonly issues: readonly string[];
  constructor(issues: readonly string[], options?: ErrorOptions) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`, options);
    this.issues = issues;
  }
}

/** SnapshotOverflowError: a rendered snapshot does not fit the shared buffer. The old one stays. */
export class SnapshotOverflowError extends ExporterError {
  override name = 'SnapshotOverflowError';
  override code = 'EXPORTER_SNAPSHOT_OVERFLOW';
  constructor(
    message: string,
    readonly neededBytes: number,
    readonly capacityBytes: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** NativeServerError: uWebSockets.js fell back to its JS shim or failed to load its native build. */
export class NativeServerError extends ExporterError {
  override name = 'NativeServerError';
  override code = 'EXPORTER_UWS_NOT_NATIVE';
}

/** PoolClosedError: a probe batch was still running when the pool closed (shutdown); not a probe failure. */
export class PoolClosedError extends ExporterError {
  override name = 'PoolClosedError';
  override code = 'EXPORTER_POOL_CLOSED';
}
