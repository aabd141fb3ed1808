// The client's verified reverse name (forward-confirmed reverse DNS, "FCrDNS"): the PTR name whose own
// A/AAAA records lead back to the client address, or null. Loopback clients are "localhost" without a
// query. Every lookup is bounded by a timeout; a DNS failure only means "no name", never an error. The
// servers asked are dns.servers, else the system's.

import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";

export function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/** `servers`: dns.servers of the configuration ("ip" or "ip:port"); empty: the system's resolvers. */
export async function reverseName(address: string, servers: readonly string[]): Promise<string | null> {
  if (isLoopback(address)) return "localhost";
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  if (servers.length > 0) resolver.setServers(servers);
  try {
    const names = await resolver.reverse(plain);
    for (const name of names.slice(0, 5)) {
      const forward = isIP(plain) === 6 ? await resolver.resolve6(name) : await resolver.resolve4(name);
      if (forward.includes(plain)) return name;
    }
  } catch {
    // no name or no answer in time: the client is "unknown"
  }
  return null;
}
