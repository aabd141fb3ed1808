// Finds a TCP port on 127.0.0.1 that nothing listens on, for a server under test to bind.
// The kernel picks it (bind to port 0); the port is released again before the server starts, so it must
// never be used for anything but loopback listeners started right after.

import { createServer } from "node:net";
import { once } from "node:events";

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no TCP address for the probe listener");
  return address.port;
}
