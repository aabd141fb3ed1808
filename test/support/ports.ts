// Loopback ports for the servers tests and the benchmark start: a port nothing listens on (the kernel picks it,
// and it is released again before the server binds it, so only for loopback listeners started right after), and
// whether something accepts connections on one yet (servers are waited for with it, never for a fixed time).

import { connect, createServer } from "node:net";

/** A loopback port nobody listens on right now. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Whether something accepts TCP connections on host:port right now. */
export function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
