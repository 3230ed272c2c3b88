/** Loopback servers for the tests: only 127.0.0.1, on a port the system picks. */
import type { Server } from 'node:net';

/** Listens on 127.0.0.1 on a free port; returns the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
