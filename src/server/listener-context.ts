// What every session of one listener shares: the listener's effective settings (global [smtp] values with the
// listener's overrides applied, computed once per configuration), the spool, the logs and the id sources.
// Sessions keep the context they started with, so a reload never changes a session in flight.

import { domainForms } from "../smtp/domain-forms.ts";
import type { Logs } from "../log/logs.ts";
import type { Spool } from "../queue/spool.ts";
import type { Config } from "../config/schema.ts";
import type { Session } from "./session.ts";
import type { ReadBuffers } from "./read-buffers.ts";
import { reply, type Reply } from "../smtp/reply.ts";
import type { TlsSetup } from "./tls-certificate.ts";
import type { ConnectionLimits } from "./connection-limits.ts";
import { type Networks, networks } from "../rules/objects/networks.ts";
import type { AccountStore } from "../accounts/sasl.ts";
import type { SenderLogins } from "../accounts/sender-logins.ts";
import type { RuleBook } from "../rules/rule-files.ts";
import type { LocalRecipients } from "../rules/local-recipients.ts";
import type { Logger } from "pino";
import type { AuthFailures } from "../accounts/auth-failures.ts";

export type ListenerConfig = Config["listener"][number];

export type ListenerSettings = {
  readonly hostname: string;
  /** dns.servers: the resolvers for reverse names (empty: the system's). */
  readonly dnsServers: readonly string[];
  readonly role: ListenerConfig["role"];
  readonly localDomains: ReadonlySet<string>;
  readonly maxMessageSize: number;
  /** Recipients of one domain per message (0: no limit). */
  readonly maxRecipientsPerDomain: number;
  /** A message with this many Received fields or more is refused as a mail loop (smtp.max_hops). */
  readonly maxHops: number;
  readonly maxRecipients: number;
  readonly maxCommandLength: number;
  readonly maxErrors: number;
  /** The tarpit: refusals after errorDelayAfter errors wait errorDelay times the errors past it. */
  readonly errorDelay: number;
  readonly errorDelayAfter: number;
  readonly commandTimeout: number;
  readonly dataTimeout: number;
  /** The longest a whole message body may take to arrive (smtp.timeouts.message). */
  readonly messageTimeout: number;
  readonly greetingDelay: number;
  readonly bareLineEndings: Config["smtp"]["bare_line_endings"];
  /** The answer to HELO, and to EHLO with the extensions it offers (their keywords: what MAIL/RCPT may use). */
  readonly helo: Reply;
  /** Before TLS (offering STARTTLS where the role allows it) and once TLS is on. */
  readonly ehlo: { readonly plain: EhloAnswer; readonly secure: EhloAnswer };
  /** STARTTLS is offered on this listener (mta, submission; submissions speaks TLS from the start). */
  readonly startTls: boolean;
  /** A submission listener (submission, submissions): AUTH is offered, and MAIL requires it. */
  readonly submission: boolean;
  /** AUTH may be used before TLS (listener plaintext_auth). */
  readonly plaintextAuth: boolean;
  /** Who may send a PROXY protocol header (listener proxy_from). */
  readonly proxyFrom: Networks;
  /** Clients that may relay without AUTH (smtp.relay_networks). */
  readonly relayNetworks: Networks;
};

const AUTH = "AUTH PLAIN LOGIN SCRAM-SHA-256";

type EhloAnswer = { readonly reply: Reply; readonly keywords: ReadonlySet<string> };

function ehloAnswer(hostname: string, offered: readonly string[]): EhloAnswer {
  return {
    reply: reply(250, undefined, hostname, ...offered),
    keywords: new Set(offered.map((line) => line.split(" ")[0]!)),
  };
}

/** The ESMTP extensions advertised in the EHLO reply (keyword and arguments). */
function extensions(maxMessageSize: number): string[] {
  return [
    "PIPELINING",
    `SIZE ${maxMessageSize}`,
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "CHUNKING",
    "BINARYMIME",
    "DSN",
    "HELP",
  ];
}

export type ListenerContext = {
  readonly listener: ListenerConfig & { readonly name: string };
  readonly settings: ListenerSettings;
  readonly spool: Spool;
  readonly logs: Logs;
  readonly nextSessionId: () => string;
  readonly nextQueueId: () => string;
  readonly readBuffers: ReadBuffers;
  /** The certificates and TLS settings of this configuration. */
  readonly tls: TlsSetup;
  /** SMTP AUTH: the users, the secret that keys answers about unknown users, the failure counts, and who may
   * send as whom. */
  readonly accounts: {
    readonly store: AccountStore;
    readonly secret: Buffer;
    readonly failures: AuthFailures;
    readonly senderLogins: SenderLogins;
  };
  /** The aliases and mailboxes of the local domains (smtp.aliases, smtp.mailboxes). */
  readonly localRecipients: LocalRecipients;
  /** The rules of this configuration: sessions keep the ones they started with across reloads. */
  readonly rules: {
    readonly book: RuleBook;
    readonly timeout: number;
    readonly log: Logger;
    readonly config: Config;
  };
  readonly sessionClosed: (session: Session) => void;
  /** This worker's connection and message counts (limits.*). */
  readonly limits: ConnectionLimits;
};

export function listenerSettings(config: Config, listener: ListenerConfig): ListenerSettings {
  const smtp = config.smtp;
  const maxMessageSize = listener.max_message_size ?? smtp.max_message_size;
  const offered = extensions(maxMessageSize);
  const startTls = listener.role !== "submissions";
  const submission = listener.role !== "mta";
  const plaintextAuth = submission && listener.plaintext_auth;
  const plain = [...offered, ...(startTls ? ["STARTTLS"] : []), ...(plaintextAuth ? [AUTH] : [])];
  return {
    hostname: config.server.hostname,
    dnsServers: config.dns.servers,
    role: listener.role,
    localDomains: domainForms(smtp.local_domains), // both spellings of an internationalised one
    maxMessageSize,
    maxRecipients: smtp.max_recipients,
    maxRecipientsPerDomain: smtp.max_recipients_per_domain,
    maxHops: smtp.max_hops,
    maxCommandLength: smtp.max_command_length,
    maxErrors: smtp.max_errors,
    errorDelay: config.limits.error_delay,
    errorDelayAfter: config.limits.error_delay_after,
    commandTimeout: smtp.timeouts.command,
    dataTimeout: smtp.timeouts.data,
    messageTimeout: smtp.timeouts.message,
    greetingDelay: listener.greeting_delay ?? smtp.greeting_delay,
    bareLineEndings: smtp.bare_line_endings,
    helo: reply(250, undefined, config.server.hostname),
    ehlo: {
      plain: ehloAnswer(config.server.hostname, plain),
      secure: ehloAnswer(config.server.hostname, submission ? [...offered, AUTH] : offered),
    },
    startTls,
    submission,
    plaintextAuth,
    proxyFrom: networks(listener.proxy_from),
    relayNetworks: networks(smtp.relay_networks),
  };
}
