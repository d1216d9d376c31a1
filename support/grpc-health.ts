/**
 * A real gRPC server with grpc.health.v1.Health/Check, made with @grpc/grpc-js (the library the grpc kind
 * uses), for the grpc kind's tests and bench. Its messages are encoded by hand, as the probe's are.
 */
import {
  Server,
  ServerCredentials,
  status,
  type ServiceDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { HEALTH_CHECK_METHOD } from '../src/probes/grpc.ts';

/** HEALTH_SERVICE is grpc.health.v1.Health with only its Check method, on raw bytes. */
const HEALTH_SERVICE: ServiceDefinition = {
  Check: {
    path: HEALTH_CHECK_METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};

/** HealthServer is a running server: its port, the status each service answers, and how to stop it. */
export interface HealthServer {
  readonly port: number;
  /** statuses maps a service name ('' is the server) to its ServingStatus; a name missing is NOT_FOUND. */
  readonly statuses: Map<string, number>;
  /** checks counts the Check calls answered. */
  readonly checks: { count: number };
  stop(): Promise<void>;
}

/** HealthServerOptions: TLS key and certificate (plaintext without), a port to bind, and no health service at all. */
export interface HealthServerOptions {
  readonly tls?: { readonly key: string; readonly cert: string };
  readonly port?: number;
  readonly withoutHealth?: boolean;
}

/** startHealthServer starts a gRPC server on 127.0.0.1 (port 0 unless given) whose '' service is SERVING. */
export async function startHealthServer(options: HealthServerOptions = {}): Promise<HealthServer> {
  const server = new Server();
  const statuses = new Map<string, number>([['', 1]]);
  const checks = { count: 0 };
  if (options.withoutHealth !== true) {
    server.addService(HEALTH_SERVICE, {
      Check: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        checks.count++;
        const service = decodeService(call.request);
        const serving = statuses.get(service);
        if (serving === undefined) return callback({ code: status.NOT_FOUND, details: `unknown service ${service}` });
        callback(null, serving === 0 ? Buffer.alloc(0) : Buffer.from([0x08, serving]));
      },
    });
  }
  const credentials =
    options.tls === undefined
      ? ServerCredentials.createInsecure()
      : ServerCredentials.createSsl(null, [
          { private_key: Buffer.from(options.tls.key), cert_chain: Buffer.from(options.tls.cert) },
        ]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, credentials, (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    port,
    statuses,
    checks,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()),
  };
}

/** decodeService reads HealthCheckRequest.service (field 1, a string; short names only: one-byte length). */
function decodeService(bytes: Buffer): string {
  return bytes.length >= 2 && bytes[0] === 0x0a ? bytes.subarray(2, 2 + bytes[1]!).toString('utf8') : '';
}
