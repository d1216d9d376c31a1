import type http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * listenLoopback starts `server` on a free port of 127.0.0.1 and returns the port; after the test it drops
 * the server's connections (keep-alive ones included) and closes it.
 */
export async function listenLoopback(t: TestContext, server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}
