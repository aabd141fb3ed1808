// Relay control: who may send mail through this server to other domains. An open relay is abused within
// hours, so this is the first rule file most servers need.
//
// Mail for our own domains (smtp.local_domains) is taken from anyone, and so is mail for the domains we relay
// for (as their backup MX, say). Mail for any other domain is relayed only for a client that authenticated
// (SMTP AUTH on a submission listener) or that connects from smtp.relay_networks or the networks listed here
// (your own servers and applications); everyone else gets "550 5.7.1" at RCPT and may go on with other recipients.
//
// An allowed relay is accepted outright: that ends the rcpt stage, skipping later rcpt rules and Petrel's
// built-in relay control. List this file after any rule file whose rcpt rules must still see relayed mail.
//
// Settings ([rules.settings]):
//   relay_domains        = ["backup.example.org"]   domains accepted from anyone (default: none)
//   extra_relay_networks = ["192.0.2.0/24"]         clients that may relay without AUTH besides smtp.relay_networks,
//                                                   for this rule only (default: none)

import { defineRules, domainList, networks, perSettings, stringListSetting } from "petrel/rules";

// Parsed once per configuration; a setting that is not a list of domains or networks makes the rule fail closed
// (451 4.3.0) with the setting named in the log, rather than relay for the wrong clients.
const policyOf = perSettings((settings) => ({
  domains: domainList(stringListSetting(settings, "relay_domains")),
  networks: networks(stringListSetting(settings, "extra_relay_networks")),
}));

export default defineRules({
  rcpt: [
    function relayControl(ctx) {
      // Ours, or a bare "postmaster" (which every server must accept): later rules and the built-in checks decide.
      if (ctx.rcpt.isLocal || ctx.rcpt.domain === "") return;
      const policy = policyOf(ctx.settings);
      const client = ctx.connection.client.address;
      if (policy.domains.has(ctx.rcpt.domain)) return ctx.accept();
      if (ctx.connection.user !== null) return ctx.accept();
      if (ctx.inRelayNetworks(client) || policy.networks.has(client)) return ctx.accept();
      ctx.log.info("relay refused", { client, recipient: ctx.rcpt.address });
      return ctx.reject(550, "5.7.1", `relaying to ${ctx.rcpt.domain} denied: authenticate first`);
    },
  ],
});
