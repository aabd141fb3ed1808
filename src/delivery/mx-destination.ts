// Where mail for a domain goes (RFC 5321 §5.1): the hosts to try, in order, each with its addresses, or why
// there is nowhere to go. MX hosts come in preference order, hosts of equal preference shuffled so that load
// spreads as the domain asked; a domain without MX is its own and only host (the implicit MX); a null MX
// (RFC 7505) refuses mail for good; an address literal ([192.0.2.1], [IPv6:2001:db8::1]) is the address
// itself. An MX host whose addresses cannot be found is skipped. An MX that names an address is looked up
// as a name, as RFC 5321 §5.1 wants (no special case). This file decides what a DNS answer means for the
// message (status codes of RFC 3463); connecting is the SMTP transport's job.

import { isIPv4, isIPv6 } from "node:net";
import { type AddressFamily, DnsError, type DnsResolver, type HostAddress, type MxAnswer, type MxHost } from "../dns/resolver.ts";

export type DestinationHost = { name: string; preference: number; addresses: HostAddress[] };

export type DestinationPlan =
  | { kind: "hosts"; port: number; hosts: DestinationHost[] }
  | { kind: "failed"; temporary: boolean; status: string; diagnostic: string };

export type DestinationOptions = {
  /** The port of the SMTP servers, carried into the plan. */
  readonly port: number;
  /** Which addresses to use and in which order within a host: ["ipv6", "ipv4"] puts IPv6 first. */
  readonly families: readonly AddressFamily[];
};

export async function resolveDestination(resolver: DnsResolver, domain: string, options: DestinationOptions): Promise<DestinationPlan> {
  if (domain.startsWith("[")) return literalDestination(domain, options);
  let answer: MxAnswer;
  try {
    answer = await resolver.mx(domain);
  } catch (error) {
    return failedLookup(error, `MX lookup of ${domain}`);
  }
  if (answer.kind === "null-mx") {
    return failure(false, "5.1.10", `${domain} accepts no mail: it publishes a null MX (RFC 7505)`);
  }
  const implicit = answer.kind === "no-mx";
  const mxHosts = answer.kind === "mx" ? inPreferenceOrder(answer.hosts) : [{ exchange: domain.replace(/\.$/, "").toLowerCase(), preference: 0 }];
  const lookups = await Promise.all(
    mxHosts.map((host) =>
      resolver.addresses(host.exchange, options.families).then(
        (addresses) => ({ host, addresses }),
        (error: unknown) => ({ host, error }),
      ),
    ),
  );
  const hosts: DestinationHost[] = [];
  const failures: DnsError[] = [];
  for (const lookup of lookups) {
    if ("addresses" in lookup) hosts.push({ name: lookup.host.exchange, preference: lookup.host.preference, addresses: lookup.addresses });
    else if (lookup.error instanceof DnsError) failures.push(lookup.error);
    else throw lookup.error;
  }
  if (hosts.length > 0) return { kind: "hosts", port: options.port, hosts };
  const reasons = failures.map((error) => error.message).join("; ");
  if (failures.some((error) => error.temporary)) {
    return failure(true, "4.4.3", `no address for the mail servers of ${domain} yet: ${reasons}`);
  }
  // Without MX the domain itself had to take the mail: it exists but is no mail domain, so the address is
  // bad (X.1.2). With MX the domain is fine but its servers cannot be reached by name: the routing
  // information is missing (X.4.4, "unable to route").
  return implicit
    ? failure(false, "5.1.2", `${domain} has no MX and no usable address: ${reasons}`)
    : failure(false, "5.4.4", `no mail server of ${domain} has a usable address: ${reasons}`);
}

/** MX hosts by preference, each run of equal preference in random order; a host named twice keeps its best. */
function inPreferenceOrder(hosts: readonly MxHost[]): MxHost[] {
  const ordered = hosts
    .map((host) => ({ host, draw: Math.random() }))
    .sort((a, b) => a.host.preference - b.host.preference || a.draw - b.draw)
    .map(({ host }) => host);
  const seen = new Set<string>();
  return ordered.filter((host) => {
    if (seen.has(host.exchange)) return false;
    seen.add(host.exchange);
    return true;
  });
}

/** "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3): that address, if its family is in use. */
function literalDestination(domain: string, options: DestinationOptions): DestinationPlan {
  const inside = domain.endsWith("]") ? domain.slice(1, -1) : "";
  const ipv6 = /^ipv6:/i.test(inside) ? inside.slice(5) : undefined;
  let address: HostAddress;
  if (ipv6 !== undefined && isIPv6(ipv6)) address = { address: ipv6, family: 6 };
  else if (ipv6 === undefined && isIPv4(inside)) address = { address: inside, family: 4 };
  else return failure(false, "5.1.3", `${domain} is not an address literal Petrel can deliver to (write [192.0.2.1] or [IPv6:2001:db8::1])`);
  if (!options.families.includes(address.family === 4 ? "ipv4" : "ipv6")) {
    return failure(false, "5.4.4", `${domain}: IPv${address.family} is not among the address families delivery uses`);
  }
  return { kind: "hosts", port: options.port, hosts: [{ name: domain, preference: 0, addresses: [address] }] };
}

function failedLookup(error: unknown, what: string): DestinationPlan {
  if (!(error instanceof DnsError)) throw error;
  if (error.temporary) return failure(true, "4.4.3", `${what} failed for now: ${error.message}`);
  if (error.code === "BADNAME") return failure(false, "5.1.3", `${what}: ${error.message}`);
  return failure(false, "5.1.2", `${what}: ${error.message}`);
}

function failure(temporary: boolean, status: string, diagnostic: string): DestinationPlan {
  return { kind: "failed", temporary, status, diagnostic };
}
