// DNS blocklists at connect: a client whose IPv4 address a blocklist lists is refused "554 5.7.1" before it
// says anything. The lookup is the usual one (RFC 5782): the address's octets reversed, under the list's zone,
// 192.0.2.99 in zen.example.org → 99.2.0.192.zen.example.org; an A record in 127.0.0.0/8 means listed, "no
// such name" (NXDOMAIN) means not listed. Every zone is asked at once; one listing is enough.
//
// A lookup that fails in any other way (timeout, SERVFAIL, REFUSED, resolver down) lets the client pass, with a
// warning in the log: a blocklist is one opinion among others, and its outage must not stop our mail. Nor are
// answers outside 127.0.0.0/8 listings, nor those in 127.255.255.0/24, which lists use to report errors (a
// query through a public resolver, an over-quota user). IPv6 clients are not looked up (IPv6 lists differ).
//
// Use a resolver of your own: most lists refuse queries that come through the big public resolvers.
//
// The lookups wait at most dnsbl_timeout_ms, and never more than half of rules.timeout (ctx.timeout): a list
// that has gone quiet then costs a warning, where reaching the rule's deadline would fail the stage closed (421)
// for every client.
//
// Settings ([rules.settings]):
//   dnsbl_zones      = ["zen.spamhaus.org"]   the lists to ask (default: none: the rule does nothing)
//   dnsbl_resolver   = "127.0.0.1:53"         the DNS server(s) to ask, address[:port] (default: the system's)
//   dnsbl_timeout_ms = 2000                   per query (default: 2000; at most half of rules.timeout)

import { Resolver } from "node:dns/promises";
import { defineRules, numberSetting, stringListSetting } from "petrel/rules";

/** The IPv4 address with its octets reversed ("192.0.2.99" → "99.2.0.192"), or null for anything else. */
function reversed(address: string): string | null {
  const ipv4 = address.startsWith("::ffff:") ? address.slice(7) : address; // an IPv4 client of a dual-stack listener
  const octets = ipv4.split(".");
  return octets.length === 4 && octets.every((octet) => /^\d{1,3}$/.test(octet)) ? octets.reverse().join(".") : null;
}

type Answer = { readonly zone: string; readonly listed: boolean } | { readonly zone: string; readonly error: string };

async function ask(resolver: Resolver, name: string, zone: string): Promise<Answer> {
  try {
    const addresses = await resolver.resolve4(name);
    return { zone, listed: addresses.some((a) => a.startsWith("127.") && !a.startsWith("127.255.255.")) };
  } catch (error) {
    const code = error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : String(error);
    // ENOTFOUND is NXDOMAIN: not listed. ENODATA: the name exists without an A record: not listed either.
    return code === "ENOTFOUND" || code === "ENODATA" ? { zone, listed: false } : { zone, error: code };
  }
}

export default defineRules({
  connect: [
    async function dnsBlocklist(ctx) {
      const zones = stringListSetting(ctx.settings, "dnsbl_zones");
      const servers = stringListSetting(ctx.settings, "dnsbl_resolver");
      const timeout = Math.min(numberSetting(ctx.settings, "dnsbl_timeout_ms", 2000, { min: 1 }), Math.ceil(ctx.timeout / 2));
      const client = ctx.connection.client.address;
      const reverse = reversed(client);
      if (reverse === null || zones.length === 0) return;
      // A resolver per connection: cancel() ends every query of its resolver, and only ours must end if this
      // rule's deadline (rules.timeout) passes all the same and ctx.signal aborts.
      const resolver = new Resolver({ timeout, tries: 1 });
      if (servers.length > 0) resolver.setServers(servers);
      const cancel = () => resolver.cancel();
      ctx.signal.addEventListener("abort", cancel, { once: true });
      try {
        const answers = await Promise.all(zones.map((zone) => ask(resolver, `${reverse}.${zone}`, zone)));
        if (ctx.signal.aborted) return; // too late: the stage has failed closed (421) without us
        const listing = answers.find((answer) => "listed" in answer && answer.listed);
        if (listing !== undefined) {
          ctx.log.info("client listed", { client, zone: listing.zone });
          return ctx.deny(554, "5.7.1", `client [${client}] blocked using ${listing.zone}`);
        }
        for (const answer of answers) {
          if ("error" in answer) ctx.log.warn("DNSBL lookup failed, client let through", { client, zone: answer.zone, error: answer.error });
        }
      } finally {
        ctx.signal.removeEventListener("abort", cancel);
      }
    },
  ],
});
