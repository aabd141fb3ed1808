// Next hops: where a recipient's copy goes next, in the one form every part of delivery uses (the router makes
// them, the scheduler groups and limits by their key, the transports take them). Also reads the URLs of the
// configuration and of rule routes ("smtp://host:port", "unix:/path", "maildir:/path"...) into next hops, and is
// what the configuration's check of those URLs asks.
// Pure: no I/O.

import type { ClientTls } from "./smtp-client.ts";

export type NextHop =
  | { readonly kind: "mx"; readonly domain: string }
  /** verify false: a required or implicit TLS connection takes any certificate (by default it must verify). */
  | { readonly kind: "smtp"; readonly host: string; readonly port: number; readonly tls: ClientTls; readonly credentials?: string; readonly verify?: false }
  | { readonly kind: "lmtp"; readonly host: string; readonly port: number }
  | { readonly kind: "lmtp-socket"; readonly path: string }
  | { readonly kind: "maildir"; readonly path: string }
  | { readonly kind: "mbox"; readonly path: string };

const DEFAULT_PORTS: Readonly<Record<string, number>> = { "smtp:": 25, "smtps:": 465, "lmtp:": 24 };

/** The configuration's and rules' TLS words for a relay, as the client's: smtps:// is always implicit TLS. */
export type HopTls = "required" | "opportunistic" | "none" | "starttls" | "tls";

/** What a configured or rule-given relay says besides its URL. */
export type HopOptions = { readonly tls?: HopTls; readonly credentials?: string; readonly verify?: boolean };

/**
 * Reads a next-hop URL. `tls` is the configured or rule-given TLS (default: opportunistic STARTTLS for smtp://);
 * maildir:/mbox: paths keep their %l/%d/%a placeholders (the router fills them in). Throws on anything else.
 */
export function parseNextHop(url: string, domain: string, options: HopOptions = {}): NextHop {
  const { tls, credentials, verify } = options;
  if (url === "mx") return { kind: "mx", domain };
  if (url.startsWith("unix:")) return { kind: "lmtp-socket", path: url.slice(5) };
  if (url.startsWith("maildir:")) return { kind: "maildir", path: url.slice(8) };
  if (url.startsWith("mbox:")) return { kind: "mbox", path: url.slice(5) };
  const parsed = URL.parse(url);
  if (parsed === null) throw new TypeError(`${url}: not a URL (expected scheme://host[:port])`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  // The port may be left out (smtp://host): the scheme's own then, as the client's defaults.
  const port = parsed.port === "" ? (DEFAULT_PORTS[parsed.protocol] ?? 0) : Number(parsed.port);
  const more = parsed.username !== "" || parsed.password !== "" || (parsed.pathname !== "" && parsed.pathname !== "/") || parsed.search !== "" || parsed.hash !== "";
  if (host === "" || more || !Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`${url}: expected scheme://host[:port]`);
  switch (parsed.protocol) {
    case "lmtp:":
      return { kind: "lmtp", host, port };
    case "smtp:":
    case "smtps:": {
      const clientTls: ClientTls = parsed.protocol === "smtps:" || tls === "tls" ? "implicit" : tls === "required" || tls === "starttls" ? "required" : tls === "none" ? "none" : "opportunistic";
      return {
        kind: "smtp",
        host,
        port,
        tls: clientTls,
        ...(credentials === undefined ? {} : { credentials }),
        ...(verify === false ? { verify } : {}),
      };
    }
    default:
      throw new TypeError(`${url}: unknown scheme ${parsed.protocol}`);
  }
}

/**
 * The destination a next hop stands for, for grouping recipients into one transaction and for concurrency
 * limits and back-off: one per MX domain, relay host, LMTP server, or mailbox.
 */
export function hopKey(hop: NextHop): string {
  switch (hop.kind) {
    case "mx":
      return `mx:${hop.domain}`;
    case "smtp":
      return `smtp:${hop.host}:${hop.port}:${hop.tls}:${hop.credentials ?? ""}${hop.verify === false ? ":unverified" : ""}`;
    case "lmtp":
      return `lmtp:${hop.host}:${hop.port}`;
    case "lmtp-socket":
      return `lmtp:unix:${hop.path}`;
    case "maildir":
    case "mbox":
      return `${hop.kind}:${hop.path}`;
  }
}

/** How the log names a next hop: "mx:example.com", "smtp://relay:587", "lmtp://127.0.0.1:24", "maildir:/path". */
export function hopLabel(hop: NextHop): string {
  switch (hop.kind) {
    case "mx":
      return `mx:${hop.domain}`;
    case "smtp":
      return `${hop.tls === "implicit" ? "smtps" : "smtp"}://${hop.host.includes(":") ? `[${hop.host}]` : hop.host}:${hop.port}`;
    case "lmtp":
      return `lmtp://${hop.host.includes(":") ? `[${hop.host}]` : hop.host}:${hop.port}`;
    case "lmtp-socket":
      return `unix:${hop.path}`;
    case "maildir":
    case "mbox":
      return `${hop.kind}:${hop.path}`;
  }
}
