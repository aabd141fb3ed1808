// What a rule file sees: the module rule files import as "petrel/rules". It declares the stages, the shape of
// a rule file (defineRules), the context each stage's rules get, the verdicts they return and the routes they
// give recipients, and the helper objects (networks, address and domain lists, list files) from objects/.
// Types only, plus defineRules and those helpers: the contexts live in contexts.ts and verdicts.ts, so that a
// rule file type-checks against this one page. docs/rules.md documents every verdict at every stage.

import type { Route } from "../queue/envelope.ts";
import type { Email as ParsedMessage } from "postal-mime";

export type { Route, ParsedMessage };
export { networks, isIp, type Networks } from "./objects/networks.ts";
export { addressList, domainList, type AddressList, type DomainList } from "./objects/addresses.ts";
export { readListFile, networksFromFile, addressesFromFile, domainsFromFile } from "./objects/list-file.ts";
export { stringSetting, stringListSetting, numberSetting, booleanSetting, perSettings, type Settings } from "./objects/settings.ts";

/** The stages, in the order a message meets them. One spelling in code, config, logs and docs. */
export const stages = ["connect", "helo", "auth", "mail", "rcpt", "preq", "postq", "delivery"] as const;
export type Stage = (typeof stages)[number];

/** What a rule returns: a verdict from ctx, or nothing (undefined) to let the next rule decide. */
export type Verdict = {
  readonly kind: VerdictKind;
  /** For deny, reject and tempfail: the reply's text, and its codes unless the stage's default ones apply. */
  readonly reply?: { readonly code?: number; readonly enhanced?: string; readonly text: string };
  /** For quarantine: the quarantine's name; for delegate: the service's. */
  readonly name?: string;
};
export type VerdictKind = "accept" | "faccept" | "deny" | "reject" | "tempfail" | "quarantine" | "discard" | "delegate";
// biome-ignore lint/suspicious/noConfusingVoidType: a rule that never returns a verdict is typed `void`
export type RuleResult = Verdict | undefined | void;

/** One rule: a named function (the name is what logs and `petrel rules check` show). */
export type Rule<Context> = (ctx: Context) => RuleResult | Promise<RuleResult>;

export type RuleFile = {
  readonly connect?: readonly Rule<ConnectContext>[];
  readonly helo?: readonly Rule<HeloContext>[];
  readonly auth?: readonly Rule<AuthContext>[];
  readonly mail?: readonly Rule<MailContext>[];
  readonly rcpt?: readonly Rule<RcptContext>[];
  readonly preq?: readonly Rule<PreqContext>[];
  readonly postq?: readonly Rule<PostqContext>[];
  readonly delivery?: readonly Rule<DeliveryContext>[];
};

/** The default export of a rule file: `export default defineRules({ rcpt: [function name(ctx) {...}] })`. */
export function defineRules<const Rules extends RuleFile>(rules: Rules): Rules {
  return rules;
}

/**
 * A reply for deny/reject/tempfail: text alone (the stage's default code), or code, enhanced code and text.
 * deny and reject take 5xx codes, tempfail 4xx; the enhanced code's class must match (RFC 3463).
 */
export type ReplyArguments = [text?: string] | [code: number, enhanced: string, text: string];

export interface Verdicts {
  /** Ends this stage: the stage's remaining rules and its built-in policy (relay control, sender ownership) are skipped. */
  accept(): Verdict;
  /**
   * Accepts, and no rule runs again for this transaction (before MAIL: for the whole session); the built-in
   * policy of later stages (relay control...) still applies.
   */
  faccept(): Verdict;
  /** Refuses and ends: closes the session before DATA; refuses the message at preq. */
  deny(...reply: ReplyArguments): Verdict;
  /** Refuses this command, this recipient or this message; the session goes on. */
  reject(...reply: ReplyArguments): Verdict;
  /** A temporary refusal (4xx) of this command, recipient or message; at connect, 421 and close. */
  tempfail(...reply: ReplyArguments): Verdict;
  /** Hands the decision to a configured service (the services issue); until then it fails closed. */
  delegate(service: string): Verdict;
}

export interface MessageVerdicts extends Verdicts {
  /** Accepts the message into the named quarantine instead of the queue. */
  quarantine(name: string): Verdict;
  /** Answers as if accepted, keeps nothing. */
  discard(): Verdict;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface Connection {
  /** The session's id, as in the logs. */
  readonly id: string;
  /** The client (the one a PROXY header names, behind a balancer); name: its reverse DNS name, forward-confirmed, or null. */
  readonly client: { readonly address: string; readonly port: number; readonly name: string | null };
  readonly server: { readonly address: string; readonly port: number };
  readonly listener: { readonly name: string; readonly role: "mta" | "submission" | "submissions" };
  readonly tls: { readonly version: string; readonly cipher: string } | null;
  /** The HELO/EHLO name, once given. */
  readonly helo: string | null;
  /** The authenticated user, once AUTH succeeded. */
  readonly user: string | null;
}

/** What every stage's context has. */
export interface BaseContext extends Verdicts {
  readonly stage: Stage;
  readonly connection: Connection;
  readonly log: Logger;
  /** The time the stage started. */
  readonly now: Date;
  /** Aborted when the rule's deadline (rules.timeout) passes: hand it to fetch, DNS and database calls. */
  readonly signal: AbortSignal;
  /** The server's configuration, read-only. */
  readonly config: unknown;
  /** The [rules.settings] table of the configuration: values rule files take from there (lists, thresholds). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** rules.timeout in milliseconds: a rule's own timeouts (DNS, HTTP) should stay below it. */
  readonly timeout: number;
  /** Whether the domain is one of smtp.local_domains. */
  isLocalDomain(domain: string): boolean;
  /** Whether the address is in smtp.relay_networks. */
  inRelayNetworks(address: string): boolean;
}

export type ConnectContext = BaseContext;
export type HeloContext = BaseContext & { readonly helo: string };
export type AuthContext = BaseContext & { readonly auth: { readonly user: string; readonly mechanism: string } };

export interface Recipient {
  /** `local@domain`, domain lower-cased. */
  readonly address: string;
  readonly local: string;
  readonly domain: string;
  /** The domain is one of smtp.local_domains. */
  readonly isLocal: boolean;
  /** outgoing: to a remote domain; internal: local sender to a local domain; incoming: the rest. */
  readonly direction: "incoming" | "outgoing" | "internal";
  /** DSN parameters (RFC 3461). */
  readonly notify?: readonly string[];
  readonly orcpt?: string;
  /** The route a rule gave this recipient; null: the default (local domains: not yet routed; others: MX). */
  readonly route: Route | null;
}

export interface Envelope {
  /** The envelope sender; "" for the null sender (bounces). */
  readonly sender: string;
  setSender(address: string): void;
  readonly recipients: readonly Recipient[];
  /** Adds a recipient (a BCC), with a route if given. Adding one already there changes nothing. */
  addRecipient(address: string, route?: Route): void;
  /** Removes a recipient; false if it was not there. */
  removeRecipient(address: string): boolean;
  /** Replaces a recipient's address, keeping its DSN parameters; false if it was not there. */
  rewriteRecipient(from: string, to: string): boolean;
}

export type RouteTarget = { readonly recipient?: string };

/** Sets recipients' routes: at rcpt, the recipient being added; later, every recipient or `recipient`. */
export interface Routing {
  mx(target?: RouteTarget): void;
  /**
   * tls: "starttls" (the default: required), "tls" (smtps://) or "none"; credentials: a name in delivery.credentials;
   * verify: false takes any certificate (by default a relay's certificate must verify, see docs/delivery.md).
   */
  relay(url: string, options?: { readonly tls?: "starttls" | "tls" | "none"; readonly credentials?: string; readonly verify?: boolean } & RouteTarget): void;
  maildir(path: string, target?: RouteTarget): void;
  mbox(path: string, target?: RouteTarget): void;
  lmtp(url: string, target?: RouteTarget): void;
}

export type MailContext = BaseContext &
  MessageVerdicts & {
    readonly envelope: Envelope;
    /** MAIL parameters: SIZE as declared, BODY, SMTPUTF8. */
    readonly mail: { readonly size?: number; readonly body?: string; readonly smtputf8: boolean };
  };

export type RcptContext = MailContext & {
  /** The recipient of this RCPT command; rewrite() changes its address before it is added. */
  readonly rcpt: Recipient & { rewrite(address: string): void };
  readonly route: Routing;
};

export interface Headers {
  /** The first field's value, unfolded (RFC 5322 §2.2.3), as UTF-8. */
  get(name: string): string | undefined;
  /** The same with RFC 2047 encoded-words decoded. */
  getDecoded(name: string): string | undefined;
  getAll(name: string): string[];
  has(name: string): boolean;
  count(name: string): number;
  names(): string[];
  /** Adds a field (at the top by default); a value with CR or LF is refused. */
  add(name: string, value: string, position?: "top" | "bottom"): void;
  /** Replaces the first field of that name and removes the others; adds one at the top if none. */
  set(name: string, value: string): void;
  /** Removes every field of that name; returns how many. */
  remove(name: string): number;
  rename(from: string, to: string): void;
}

export interface Attachment {
  readonly filename: string | null;
  readonly mimeType: string;
  readonly size: number;
}

export interface Message {
  /** Bytes, Petrel's Received header included. */
  readonly size: number;
  /**
   * The header section as the client sent it (Petrel's own Received header stays above it and is not part of it);
   * edits are written into the message before it is queued.
   */
  readonly headers: Headers;
  /** The whole message as it stands (header edits included). */
  raw(): Promise<Buffer>;
  /** The parsed MIME structure (postal-mime), parsed once on first use. */
  mime(): Promise<ParsedMessage>;
  attachments(): Promise<readonly Attachment[]>;
}

export interface Exports {
  /** Writes the message as `<queue id>.eml` into the directory; resolves to the file's path. */
  eml(directory: string): Promise<string>;
  /** Writes `<queue id>.json`: envelope, headers and MIME tree. */
  json(directory: string): Promise<string>;
}

export type PreqContext = MailContext & {
  readonly queueId: string;
  readonly message: Message;
  readonly route: Routing;
  readonly export: Exports;
};
export type PostqContext = PreqContext;
export type DeliveryContext = PreqContext & { readonly recipient: Recipient };
