// The configuration schema: the one source of the `Config` type, of every default, and of what each key accepts.
// The parsed result is plain JSON-serialisable data (durations in ms, sizes in bytes, absolute paths once load.ts
// has resolved them) because it is sent to worker processes over IPC.
// This file must never read files or the environment beyond the host name used as the default hostname.
// A check of a single value says only what the value is not (`params.notA`) and issues.ts words the message, so
// that every message in front of an administrator has one shape; only checks across keys word their own.

import { asciiDomain } from "../smtp/domain-forms.ts";
import net from "node:net";
import os from "node:os";
import { z } from "zod";
import { defaultListeners } from "./default.ts";
import { parseDuration, parseSize } from "./units.ts";
import { networks } from "../rules/objects/networks.ts";
import { parseNextHop } from "../delivery/next-hop.ts";

/** Marks schemas whose values need care beyond their JSON type: relative paths, and units to print back. */
export const valueKinds = z.registry<{ kind: "duration" | "size" | "path" }>();

/** A refused value of a custom check: `<value> is not <notA> (expected <expected>)`. */
export type NotAParams = { notA: string; expected: string };

function notA(ctx: z.RefinementCtx, input: unknown, params: NotAParams): typeof z.NEVER {
  ctx.addIssue({ code: "custom", input, params, message: `not ${params.notA}` });
  return z.NEVER;
}

function duration() {
  return z
    .unknown()
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms !== undefined) return ms;
      return notA(ctx, value, {
        notA: "a duration",
        expected: 'e.g. "30s", "5m", "1h", "2d" or a number of milliseconds',
      });
    })
    .register(valueKinds, { kind: "duration" });
}

function size() {
  return z
    .unknown()
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes !== undefined) return bytes;
      return notA(ctx, value, { notA: "a size", expected: 'e.g. "50MiB" or a number of bytes' });
    })
    .register(valueKinds, { kind: "size" });
}

/** A file or folder; load.ts makes relative ones absolute against the configuration file's folder. */
function filePath() {
  return z.string().min(1).register(valueKinds, { kind: "path" });
}

const dnsLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const domainPattern = new RegExp(`^${dnsLabel}(?:\\.${dnsLabel})*\\.?$`);

/** A DNS name, kept lower-case and without a trailing dot. */
/** A domain name, kept in lower case without a trailing dot; an internationalised one in its ASCII form. */
function domainName(what: string, example: string) {
  return z.string().transform((value, ctx) => {
    const ascii = asciiDomain(value);
    return ascii !== "" && domainPattern.test(ascii) && ascii.length <= 253 ? ascii : notA(ctx, value, { notA: what, expected: `e.g. "${example}"` });
  });
}

/** Kept as written: "auto" means os.availableParallelism() of the machine that runs the primary. */
const workers = z.unknown().transform((value, ctx): "auto" | number => {
  if (value === "auto") return value;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 1) return value;
  return notA(ctx, value, { notA: "a number of workers", expected: '"auto" or an integer >= 1' });
});

const listenAddress = z.string().refine((value) => value === "*" || net.isIP(value) !== 0, {
  params: {
    notA: "a listening address",
    expected: 'an IPv4 or IPv6 literal without brackets, "*" or "::"',
  } satisfies NotAParams,
});

const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
const logFormats = ["json", "pretty", "auto"] as const;
const logDestinations = ["stdout", "stderr", "file", "syslog"] as const;
const syslogFacilities = [
  "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
  "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
] as const;
// mta: port 25, STARTTLS offered; submission: port 587, STARTTLS offered; submissions: port 465, TLS from the
// first byte (RFC 8314).
const listenerRoles = ["mta", "submission", "submissions"] as const;

const logLevel = z.enum(logLevels);

const logTarget = z
  .strictObject({
    destination: z.enum(logDestinations).default("stdout"),
    path: filePath().optional(),
    facility: z.enum(syslogFacilities).default("mail"),
    socket: filePath().default("/dev/log"),
  })
  .superRefine((target, ctx) => {
    if (target.destination === "file" && target.path === undefined) {
      ctx.addIssue({ code: "custom", path: ["path"], input: undefined, message: 'required when destination = "file"' });
    }
  });

/** An IP address or a network in CIDR notation, checked as the server will use it (host bits set are refused). */
const network = z.string().superRefine((text, ctx) => {
  try {
    networks([text]);
  } catch (error) {
    const why = error instanceof TypeError ? error.message.replace(/^invalid network "[^"]*": /, "") : String(error);
    ctx.addIssue({ code: "custom", input: text, message: `expected an IP address or a network such as "10.0.0.0/8" (${why})` });
  }
});

const listener = z.strictObject({
  name: z.string().min(1).optional(),
  address: listenAddress,
  // Not 0: every worker binds the listener itself (SO_REUSEPORT), so "any free port" would differ per worker.
  port: z.int().min(1).max(65535),
  role: z.enum(listenerRoles).default("mta"),
  max_message_size: size().optional(),
  greeting_delay: duration().optional(),
  // AUTH without TLS: only for listeners nobody can eavesdrop on (loopback, a local socket proxy).
  plaintext_auth: z.boolean().default(false),
  // Behind a load balancer: every connection starts with a PROXY protocol header (v1 or v2) naming the real
  // client, accepted only from these addresses or networks ("192.0.2.10", "10.0.0.0/8", "2001:db8::/32").
  proxy_protocol: z.boolean().default(false),
  proxy_from: z.array(network).default([]),
});

type ListenerInput = z.infer<typeof listener>;

/**
 * Names each listener (given, else "<role>-<port>", else "<role>-<address>-<port>" when two unnamed listeners
 * share role and port, as the IPv4 and IPv6 twins of the default do) and refuses duplicate names and duplicate
 * address+port pairs.
 */
function nameListeners(listeners: ListenerInput[], ctx: z.RefinementCtx) {
  const short = listeners.map((l) => `${l.role}-${l.port}`);
  const named = listeners.map((l, i) => {
    const derived = short.filter((s) => s === short[i]).length > 1 ? `${l.role}-${l.address}-${l.port}` : short[i]!;
    const { address, port, role, max_message_size, greeting_delay, plaintext_auth, proxy_protocol, proxy_from } = l;
    return { name: l.name ?? derived, address, port, role, max_message_size, greeting_delay, plaintext_auth, proxy_protocol, proxy_from };
  });
  const seenNames = new Map<string, number>();
  const seenSockets = new Map<string, number>();
  named.forEach((l, i) => {
    const earlier = seenNames.get(l.name);
    if (earlier !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [i, "name"],
        input: l.name,
        message: `duplicate listener name "${l.name}" (also listener[${earlier}]; give each listener its own name)`,
      });
    } else seenNames.set(l.name, i);
    const socket = `${l.address} port ${l.port}`;
    const twin = seenSockets.get(socket);
    if (twin !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [i, "port"],
        input: l.port,
        message: `${socket} is already used by listener[${twin}]`,
      });
    } else seenSockets.set(socket, i);
  });
  return named;
}

/** "192.0.2.53", "192.0.2.53:5353", "2001:db8::53" or "[2001:db8::53]:5353", as Resolver.setServers takes them. */
function isResolverAddress(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return net.isIP(bracketed[1]!) === 6 && Number(bracketed[2] ?? 53) <= 65535;
  const withPort = /^([\d.]+):(\d{1,5})$/.exec(text);
  if (withPort) return net.isIP(withPort[1]!) === 4 && Number(withPort[2]) <= 65535;
  return net.isIP(text) !== 0;
}

/**
 * Where mail goes next: "smtp://host:port" (STARTTLS when offered), "smtps://host:port", "lmtp://host:port"
 * (without a port: 25, 465, 24), "unix:/path" (LMTP), "maildir:/path", "mbox:/path" or "mx"; or a table with `url`, `tls` ("required",
 * "opportunistic", "none"; smtps:// is always TLS), `credentials` (a name in delivery.credentials) and `verify`
 * (false: do not verify the certificate of a required or implicit TLS connection; default true).
 */
const nextHopUrl = z.string().refine(
  (url) => url === "mx" || /^(unix|maildir|mbox):\/./.test(url) || (/^(smtp|smtps|lmtp):\/\//.test(url) && readsAsNextHop(url)),
  { message: 'expected "smtp://host[:port]", "smtps://host[:port]", "lmtp://host[:port]", "unix:/path", "maildir:/path", "mbox:/path" or "mx"' },
);

/** Whether delivery reads the URL (delivery/next-hop.ts): a host, a port from 1 to 65535 or none, nothing else. */
function readsAsNextHop(url: string): boolean {
  try {
    parseNextHop(url, "");
    return true;
  } catch {
    return false;
  }
}
const nextHop = z.preprocess(
  (value) => (typeof value === "string" ? { url: value } : value), // a URL alone is short for { url = ... }
  z.strictObject({
    url: nextHopUrl,
    tls: z.enum(["required", "opportunistic", "none"]).optional(),
    credentials: z.string().min(1).optional(),
    verify: z.boolean().optional(),
  }),
);

const configObject = z.strictObject({
  server: z
    .strictObject({
      hostname: domainName("a host name", "mx.example.org").default(() => os.hostname()),
      workers: workers.prefault("auto"),
      shutdown_timeout: duration().prefault("30s"),
      pid_file: filePath().default("./var/petrel.pid"), // the primary's pid, for `petrel rules reload`
      // Started as root: workers bind the listeners (ports below 1024 too), then run as this user and group;
      // the spool, TLS and AUTH files are handed to them. Unset: run as whoever started Petrel.
      user: z.string().min(1).optional(),
      group: z.string().min(1).optional(),
    })
    .prefault({}),
  spool: z.strictObject({ dir: filePath().default("./var/spool") }).prefault({}),
  tls: z
    .strictObject({
      // Without both, Petrel makes a self-signed certificate for server.hostname in `directory` at first start.
      certificate: filePath().optional(),
      key: filePath().optional(),
      directory: filePath().default("./var/tls"),
      min_version: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
      ciphers: z.string().min(1).optional(), // OpenSSL cipher list for TLS 1.2; Node's default when absent
      // More certificates, chosen by the name the client asks for (SNI); "*.example.org" covers one label.
      server_names: z
        .array(z.strictObject({ name: z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+$/, "expected a host name or *.domain"), certificate: filePath(), key: filePath() }))
        .default([]),
    })
    .superRefine((tls, ctx) => {
      if ((tls.certificate === undefined) !== (tls.key === undefined)) {
        const missing = tls.certificate === undefined ? "certificate" : "key";
        ctx.addIssue({ code: "custom", path: [missing], input: undefined, message: "certificate and key go together" });
      }
    })
    .prefault({}),
  auth: z
    .strictObject({
      users: filePath().default("./var/users"), // written by `petrel user add|remove`
      secret: filePath().default("./var/auth.secret"), // random, made at first start: keys decoys for unknown users
      sender_logins: filePath().optional(), // which users may send as which addresses (accounts/sender-logins.ts)
      max_failures: z.int().min(1).default(5), // failed AUTH from one address before it is locked out
      lockout: duration().prefault("15m"),
      failure_delay: duration().prefault("1s"), // times the failures so far, before answering 535
    })
    .prefault({}),
  limits: z
    .strictObject({
      max_connections: z.int().min(1).default(1000), // open connections, all listeners and workers together
      max_connections_per_client: z.int().min(1).default(50), // open connections from one address
      connection_rate_per_client: z.int().min(0).default(0), // new connections per address per minute; 0: no limit
      message_rate_per_client: z.int().min(0).default(0), // MAIL commands per address per minute; 0: no limit
      // The tarpit: after this many refused commands in a session, each further refusal waits error_delay
      // times the errors past it (smtp.max_errors then ends the session with 421).
      error_delay_after: z.int().min(0).default(3),
      error_delay: duration().prefault("1s"),
    })
    .prefault({}),
  smtp: z
    .strictObject({
      local_domains: z.array(domainName("a domain name", "example.org")).prefault(["localhost"]),
      // Clients in these networks may relay without AUTH (your own servers and applications).
      relay_networks: z.array(network).default([]),
      max_message_size: size().prefault("50MiB"),
      max_recipients: z.int().min(1).default(1000),
      max_recipients_per_domain: z.int().min(0).default(0), // RCPT of one domain per message, beyond: 452; 0: no limit
      max_hops: z.int().min(1).default(50), // a message with this many Received fields is a mail loop: 554 5.4.6
      aliases: filePath().optional(), // /etc/aliases style: `name: target, target` (rules/local-recipients.ts)
      mailboxes: filePath().optional(), // addresses that exist at the local domains; unset: all of them
      max_command_length: z.int().min(512).default(2048),
      max_errors: z.int().min(1).default(10),
      bare_line_endings: z.enum(["reject", "normalize"]).default("reject"),
      greeting_delay: duration().prefault("0s"),
      timeouts: z
        .strictObject({
          command: duration().prefault("5m"), // idle between commands, and most a command may take to arrive
          data: duration().prefault("5m"), // idle within DATA/BDAT
          message: duration().prefault("30m"), // most a whole message body may take to arrive
        })
        .prefault({}),
    })
    .prefault({}),
  dns: z
    .strictObject({
      // The resolvers Petrel asks ("192.0.2.53", "[2001:db8::53]:53", "127.0.0.1:5353"); none: the system's.
      servers: z.array(z.string().refine(isResolverAddress, "an IP address, optionally with :port ([IPv6]:port)")).default([]),
      timeout: duration().prefault("5s"), // per query and server
      attempts: z.int().min(1).default(2), // tries over the servers in turn before a temporary failure
      cache_entries: z.int().min(0).default(10000), // answers kept for their TTL; 0: no cache
    })
    .prefault({}),
  // Delivery (delivery/): how queued mail leaves, when it is tried again, and when it is returned.
  delivery: z
    .strictObject({
      paused: z.boolean().default(false), // accept and queue, deliver nothing (maintenance); false: deliver
      concurrency: z.int().min(1).default(100), // deliveries at once, all destinations together
      destination_concurrency: z.int().min(1).default(20), // deliveries at once to one destination
      // Mail for smtp.local_domains: "maildir", "mbox" or "lmtp", into the place named by the key of that name.
      // %l is the local part, %d the domain, %a the whole address (lower-case; "/" and a leading "." refused).
      local_transport: z.enum(["maildir", "mbox", "lmtp"]).default("maildir"),
      maildir: filePath().default("./var/mail/%d/%l"),
      mbox: filePath().default("./var/mbox/%d/%l"),
      lmtp: z
        .string()
        .refine((url) => /^unix:\/./.test(url) || (url.startsWith("lmtp://") && readsAsNextHop(url)), { message: 'expected "lmtp://host[:port]" or "unix:/path"' })
        .default("unix:/var/run/dovecot/lmtp"),
      // Every other domain goes by MX, or through this relay host (smarthost) when set.
      relay: nextHop.optional(),
      // Per domain ("example.com", or ".example.com" for its subdomains): a next hop of its own.
      transports: z.record(z.string().min(1), nextHop).default({}),
      // Credentials relays and rule routes name: { user = "...", password_file = "..." }; never in queue files.
      credentials: z.record(z.string().min(1), z.strictObject({ user: z.string().min(1), password_file: filePath() })).default({}),
      tls: z.enum(["opportunistic", "required", "none"]).default("opportunistic"), // STARTTLS to MX hosts
      // Certificate authorities (PEM) trusted for relays, besides Node's own list (Mozilla's).
      tls_ca_file: filePath().optional(),
      mx_port: z.int().min(1).max(65535).default(25),
      address_families: z.array(z.enum(["ipv4", "ipv6"])).min(1).default(["ipv4", "ipv6"]), // tried in this order
      helo_name: domainName("a host name", "mx.example.org").optional(), // default: server.hostname
      retry_min: duration().prefault("5m"), // the first wait after a deferral; doubled each time, with jitter
      retry_max: duration().prefault("1h"), // the longest wait between attempts
      max_lifetime: duration().prefault("5d"), // then the message is returned to its sender
      delay_warning: duration().prefault("4h"), // a "delayed" DSN after this long in the queue; "0s": none
      return_limit: size().prefault("50KiB"), // a DSN returns the whole message up to this size, else its headers
      connection_reuse: duration().prefault("5s"), // an idle connection to a destination is kept this long
      timeouts: z
        .strictObject({
          connect: duration().prefault("30s"),
          command: duration().prefault("5m"),
          data: duration().prefault("10m"), // the reply after the message
        })
        .prefault({}),
    })
    .superRefine((delivery, ctx) => {
      if (delivery.retry_max < delivery.retry_min) {
        ctx.addIssue({ code: "custom", path: ["retry_max"], input: delivery.retry_max, message: "shorter than retry_min: the wait starts at retry_min and grows up to retry_max" });
      }
    })
    .prefault({}),
  // Rule files (rules/): TypeScript or JavaScript modules, run in this order at every stage.
  rules: z
    .strictObject({
      files: z.array(filePath()).default([]),
      timeout: duration().prefault("10s"), // one rule's deadline; past it the stage fails closed (451 4.3.0)
      settings: z.record(z.string(), z.unknown()).default({}), // free values for rule files: ctx.settings
    })
    .prefault({}),
  listener: z
    .array(listener)
    .min(1)
    .transform(nameListeners)
    .prefault(() => defaultListeners.map((l) => ({ ...l }))),
  log: z
    .strictObject({
      level: logLevel.default("info"),
      format: z.enum(logFormats).default("auto"),
      modules: z.record(z.string().min(1), logLevel).default({}),
      system: logTarget.prefault({}),
      mail: logTarget.prefault({}),
    })
    .prefault({}),
});

/** The whole file. A listener without its own max_message_size or greeting_delay gets the one of [smtp]. */
export const configSchema = configObject.transform((config) => ({
  ...config,
  listener: config.listener.map((l) => ({
    ...l,
    max_message_size: l.max_message_size ?? config.smtp.max_message_size,
    greeting_delay: l.greeting_delay ?? config.smtp.greeting_delay,
  })),
}));

export type Config = z.infer<typeof configSchema>;
export type ListenerConfig = Config["listener"][number];
export type LogConfig = Config["log"];
export type LogTargetConfig = LogConfig["system"];
