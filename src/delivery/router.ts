// The router: which next hop each recipient's copy takes. In order: the route a rule stored with the recipient;
// for smtp.local_domains the local transport (delivery.local_transport, with its place filled in for the
// recipient); a per-domain entry of delivery.transports (the domain, then ".parent" entries upwards); the relay
// host (delivery.relay); else the recipient domain's MX. Mailbox places get %l (local part), %d (domain, in its
// ASCII form: bücher.example and xn--bcher-kva.example are one domain) and %a (address), lower-case; a local part
// that would climb out of the place ("/", a leading ".") is refused.

import type { Config } from "../config/schema.ts";
import type { Route, SpoolRecipient } from "../queue/envelope.ts";
import { type NextHop, parseNextHop } from "./next-hop.ts";
import { failed, type Outcome } from "./outcome.ts";
import { asciiDomain, domainForms } from "../smtp/domain-forms.ts";

type HopSetting = { readonly url: string; readonly tls?: "required" | "opportunistic" | "none"; readonly credentials?: string; readonly verify?: boolean };

export type Routed = { readonly hop: NextHop } | { readonly refused: Outcome };

export class Router {
  readonly #localDomains: ReadonlySet<string>;
  readonly #delivery: Config["delivery"];
  /** The configured next hops read once (parseNextHop parses a URL: a cost per recipient otherwise). */
  readonly #parsed = new Map<HopSetting, NextHop>();

  constructor(config: Config) {
    this.#localDomains = domainForms(config.smtp.local_domains);
    this.#delivery = config.delivery;
  }

  route(recipient: SpoolRecipient): Routed {
    const at = recipient.address.lastIndexOf("@");
    const domain = (at < 0 ? "" : recipient.address.slice(at + 1)).toLowerCase();
    const hop = recipient.route !== undefined ? this.#ruleHop(recipient.route, domain) : this.#configuredHop(domain);
    if (hop.kind !== "maildir" && hop.kind !== "mbox") return { hop };
    const path = fillPlace(hop.path, recipient.address, asciiDomain(domain));
    if (path === null) return { refused: failed("5.1.3", `the local part of <${recipient.address}> cannot name a mailbox`) };
    return { hop: { kind: hop.kind, path } };
  }

  #ruleHop(route: Route, domain: string): NextHop {
    switch (route.kind) {
      case "mx":
        return { kind: "mx", domain };
      case "relay":
        return parseNextHop(route.url, domain, route);
      case "lmtp":
        return parseNextHop(route.url, domain);
      case "maildir":
      case "mbox":
        return { kind: route.kind, path: route.path };
    }
  }

  #configuredHop(domain: string): NextHop {
    if (this.#localDomains.has(domain)) {
      const local = this.#delivery.local_transport;
      if (local === "lmtp") return parseNextHop(this.#delivery.lmtp, domain);
      return { kind: local, path: this.#delivery[local] };
    }
    const setting: HopSetting | undefined = this.#transportFor(domain) ?? this.#delivery.relay;
    if (setting === undefined || setting.url === "mx") return { kind: "mx", domain };
    let hop = this.#parsed.get(setting);
    if (hop === undefined) {
      hop = parseNextHop(setting.url, domain, setting);
      this.#parsed.set(setting, hop);
    }
    return hop;
  }

  /** delivery.transports["example.com"], else [".example.com"] for a subdomain, walking up. */
  #transportFor(domain: string): HopSetting | undefined {
    const transports = this.#delivery.transports;
    if (Object.hasOwn(transports, domain)) return transports[domain];
    for (let dot = domain.indexOf("."); dot >= 0; dot = domain.indexOf(".", dot + 1)) {
      const parent = domain.slice(dot);
      if (Object.hasOwn(transports, parent)) return transports[parent];
    }
    return undefined;
  }
}

/** The place with %l, %d, %a and %% filled in, or null when the local part cannot be a file name. */
function fillPlace(template: string, address: string, domain: string): string | null {
  const at = address.lastIndexOf("@");
  const local = (at < 0 ? address : address.slice(0, at)).toLowerCase();
  if (local === "" || local.startsWith(".") || /[/\\\u0000-\u001f]/.test(local) || domain.includes("/")) return null;
  return template.replace(/%([lda%])/g, (_, key: string) => (key === "l" ? local : key === "d" ? domain : key === "a" ? `${local}@${domain}` : "%"));
}
