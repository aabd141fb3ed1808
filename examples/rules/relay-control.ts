// Relay control: who may send mail through this server to other domains. An open relay is abused within
// hours, so this is the first rule file most servers need.
//
// Mail for our own domains (smtp.local_domains) is taken from anyone, and so is mail for the domains we relay
// for (as their backup MX, say). Mail for any other domain is relayed only for a client that authenticated
// (SMTP AUTH on a submission listener) or that connects from one of the listed networks (your own servers and
// applications); everyone else gets "550 5.7.1" at RCPT and may go on with other recipients.
//
// An allowed relay is accepted outright: that ends the rcpt stage, skipping later rcpt rules and Petrel's
// built-in relay control. List this file after any rule file whose rcpt rules must still see relayed mail.
//
// Settings ([rules.settings]):
//   relay_networks = ["192.0.2.0/24", "2001:db8::/32"]   clients that may relay without AUTH (default: none)
//   relay_domains  = ["backup.example.org"]              domains accepted from anyone (default: none)

import { type BaseContext, type DomainList, defineRules, domainList, type Networks, networks } from "petrel/rules";

type Settings = BaseContext["settings"];
type Policy = { readonly networks: Networks; readonly domains: DomainList };

// The settings are parsed once per configuration (a reload brings a new settings object, hence new lists).
const policies = new WeakMap<Settings, Policy>();

function policyOf(settings: Settings): Policy {
  let policy = policies.get(settings);
  if (policy === undefined) {
    policy = { networks: networks(strings(settings, "relay_networks")), domains: domainList(strings(settings, "relay_domains")) };
    policies.set(settings, policy);
  }
  return policy;
}

/**
 * A list of strings from the settings: absent is empty, one string a list of one. Anything else throws: the
 * rule fails closed (451 4.3.0) and the log names the setting, rather than relaying for the wrong clients.
 */
function strings(settings: Settings, name: string): string[] {
  const value = settings[name] ?? [];
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const texts = items.filter((item): item is string => typeof item === "string");
  if (texts.length !== items.length) throw new TypeError(`rules.settings.${name}: expected a list of strings`);
  return texts;
}

export default defineRules({
  rcpt: [
    function relayControl(ctx) {
      // Ours, or a bare "postmaster" (which every server must accept): later rules and the built-in checks decide.
      if (ctx.rcpt.isLocal || ctx.rcpt.domain === "") return;
      const policy = policyOf(ctx.settings);
      if (policy.domains.has(ctx.rcpt.domain)) return ctx.accept();
      if (ctx.connection.user !== null) return ctx.accept();
      if (policy.networks.has(ctx.connection.client.address)) return ctx.accept();
      ctx.log.info("relay refused", { client: ctx.connection.client.address, recipient: ctx.rcpt.address });
      return ctx.reject(550, "5.7.1", `relaying to ${ctx.rcpt.domain} denied: authenticate first`);
    },
  ],
});
