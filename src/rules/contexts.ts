// The ctx objects rules receive (their types are in api.ts): one per stage run, built by the server from the
// session's state. The envelope and routes a rule changes are the transaction's own (EnvelopeState), so the
// server sees each change at once; addresses a rule gives are parsed like those of MAIL and RCPT and a bad
// one throws inside the rule (it fails closed). This file decides no verdict's meaning.

import type { Logger as Pino } from "pino";
import type {
  Connection,
  Envelope,
  Logger,
  Recipient,
  Route,
  RouteTarget,
  Routing,
  Stage,
} from "./api.ts";
import type { LoadedRule } from "./rule-files.ts";
import type { RuleClock } from "./run-stage.ts";
import { verdictMethods } from "./verdicts.ts";
import { type Direction, direction } from "./local-recipients.ts";
import { type Mailbox, parsePath } from "../smtp/address.ts";
import { parseNextHop } from "../delivery/next-hop.ts";
import type { RcptParameters } from "../smtp/parameters.ts";

/** A recipient as the transaction keeps it. */
export type EnvelopeRecipient = { mailbox: Mailbox; parameters: RcptParameters; route: Route | null };

/** The transaction's envelope, which rules change in place. */
export interface EnvelopeState {
  sender: Mailbox | null;
  readonly recipients: EnvelopeRecipient[];
}

/** What the server gives every context. */
export type StageSetup = {
  readonly connection: Connection;
  readonly log: Pino;
  readonly config: { readonly rules: { readonly settings: Readonly<Record<string, unknown>> } };
  /** rules.timeout, in milliseconds. */
  readonly timeout: number;
  readonly localDomains: ReadonlySet<string>;
  /** Whether an address is in smtp.relay_networks. */
  readonly inRelayNetworks: (address: string) => boolean;
};

/** Parses an address a rule gives, as MAIL or RCPT would; throws a TypeError naming it. */
export function mailboxOf(address: string, role: "sender" | "recipient"): Mailbox {
  if (typeof address !== "string") throw new TypeError(`${role} address must be a string`);
  const parsed = parsePath(`<${address}>`, role);
  if (parsed === null || !("address" in parsed) || parsed.domain === "") {
    const why = parsed !== null && "lines" in parsed ? `: ${parsed.lines.join(" ")}` : "";
    throw new TypeError(`"${address}" is not a usable ${role} address${why}`);
  }
  return parsed;
}

export class StageContext implements RuleClock {
  readonly stage: Stage;
  readonly connection: Connection;
  readonly config: StageSetup["config"];
  readonly settings: Readonly<Record<string, unknown>>;
  readonly timeout: number;
  protected readonly setup: StageSetup;
  #rule: LoadedRule | null = null;
  #controller: AbortController | null = null;
  #log: Logger | null = null;
  readonly #startedAt = Date.now();
  #now: Date | null = null;

  constructor(stage: Stage, setup: StageSetup) {
    this.stage = stage;
    this.setup = setup;
    this.connection = setup.connection;
    this.config = setup.config;
    this.settings = setup.config.rules.settings;
    this.timeout = setup.timeout;
  }

  /** When the stage began (the same Date for every rule of the stage); made on first use. */
  get now(): Date {
    this.#now ??= new Date(this.#startedAt);
    return this.#now;
  }

  /** Made on first use: most rules never log. */
  get log(): Logger {
    if (this.#log === null) {
      const line = (level: "info" | "warn" | "error") => (message: string, fields?: Record<string, unknown>) =>
        this.setup.log[level](
          { ...fields, session: this.connection.id, queueId: this.logQueueId, stage: this.stage, rule: this.#rule?.name, file: this.#rule?.file },
          message,
        );
      this.#log = { info: line("info"), warn: line("warn"), error: line("error") };
    }
    return this.#log;
  }

  /** The message's queue id in the rule's log lines, once there is one (preq). */
  protected get logQueueId(): string | undefined {
    return undefined;
  }

  isLocalDomain(domain: string): boolean {
    return this.setup.localDomains.has(domain.toLowerCase().replace(/\.$/, ""));
  }

  inRelayNetworks(address: string): boolean {
    return this.setup.inRelayNetworks(address);
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  startRule(rule: LoadedRule): void {
    this.#rule = rule;
    this.#controller = null;
  }

  expire(reason: Error): void {
    this.#controller?.abort(reason);
  }
}
Object.assign(StageContext.prototype, verdictMethods);

/** The DSN parameters (RFC 3461) as rules see them: NOTIFY as a list, ORCPT as "type;address". */
function dsnOf(parameters: RcptParameters): { notify: readonly string[] | undefined; orcpt: string | undefined } {
  const { notify, orcpt } = parameters;
  return {
    notify: notify === undefined ? undefined : notify === "NEVER" ? ["NEVER"] : notify,
    orcpt: orcpt === undefined ? undefined : `${orcpt.type};${orcpt.address}`,
  };
}

/** A recipient of the envelope as rules see it (a snapshot). */
export function recipientView(recipient: EnvelopeRecipient, localDomains: ReadonlySet<string>, sender: Mailbox | null): Recipient {
  const { mailbox, parameters } = recipient;
  const { notify, orcpt } = dsnOf(parameters);
  return {
    address: mailbox.address,
    local: mailbox.local,
    domain: mailbox.domain,
    isLocal: localDomains.has(mailbox.domain),
    direction: direction(sender?.domain ?? null, mailbox.domain, localDomains),
    notify,
    orcpt,
    route: recipient.route,
  };
}

class EnvelopeView implements Envelope {
  readonly #state: EnvelopeState;
  readonly #localDomains: ReadonlySet<string>;

  constructor(state: EnvelopeState, localDomains: ReadonlySet<string>) {
    this.#state = state;
    this.#localDomains = localDomains;
  }

  get sender(): string {
    return this.#state.sender?.address ?? "";
  }

  setSender(address: string): void {
    this.#state.sender = address === "" ? null : mailboxOf(address, "sender");
  }

  get recipients(): readonly Recipient[] {
    return this.#state.recipients.map((recipient) => recipientView(recipient, this.#localDomains, this.#state.sender));
  }

  #find(address: string): number {
    const wanted = address.toLowerCase();
    return this.#state.recipients.findIndex((recipient) => recipient.mailbox.address.toLowerCase() === wanted);
  }

  addRecipient(address: string, route?: Route): void {
    const mailbox = mailboxOf(address, "recipient");
    if (this.#find(mailbox.address) >= 0) return;
    this.#state.recipients.push({ mailbox, parameters: {}, route: route === undefined ? null : checkedRoute(route) });
  }

  removeRecipient(address: string): boolean {
    const index = this.#find(address);
    if (index < 0) return false;
    this.#state.recipients.splice(index, 1);
    return true;
  }

  rewriteRecipient(from: string, to: string): boolean {
    const index = this.#find(from);
    if (index < 0) return false;
    const recipient = this.#state.recipients[index]!;
    recipient.mailbox = mailboxOf(to, "recipient");
    return true;
  }
}

/** Checks a route given whole (addRecipient): the same rules as the Routing methods. */
function checkedRoute(route: Route): Route {
  switch (route.kind) {
    case "mx":
      return { kind: "mx" };
    case "relay":
      return relayRoute(route.url, route);
    case "maildir":
    case "mbox":
      return { kind: route.kind, path: absolutePath(route.kind, route.path) };
    case "lmtp":
      return { kind: "lmtp", url: lmtpUrl(route.url) };
    default:
      throw new TypeError(`unknown route kind "${(route as { kind: unknown }).kind}"`);
  }
}

function absolutePath(kind: string, path: string): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new TypeError(`${kind} route: "${path}" is not an absolute path`);
  }
  return path;
}

/** smtp://host[:port] or smtps://host[:port]; credentials are named (configuration), never in the URL. */
function relayRoute(url: string, options: { readonly tls?: "starttls" | "tls" | "none"; readonly credentials?: string; readonly verify?: boolean }): Route {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`relay route: "${url}" is not a URL (smtp://host:port or smtps://host:port)`);
  }
  if (parsed.protocol !== "smtp:" && parsed.protocol !== "smtps:") throw new TypeError(`relay route: ${url}: use smtp:// or smtps://`);
  if (parsed.username !== "" || parsed.password !== "") {
    throw new TypeError("relay route: credentials do not belong in the URL (queue files would keep them); name them with credentials:");
  }
  if (parsed.hostname === "" || (parsed.pathname !== "" && parsed.pathname !== "/")) throw new TypeError(`relay route: ${url}: want host and port only`);
  readableHop("relay route", `${parsed.protocol}//${parsed.host}`);
  const tls = options.tls ?? (parsed.protocol === "smtps:" ? "tls" : "starttls");
  if (tls !== "starttls" && tls !== "tls" && tls !== "none") throw new TypeError(`relay route: tls must be "starttls", "tls" or "none"`);
  if (parsed.protocol === "smtps:" && tls !== "tls") throw new TypeError("relay route: smtps:// means tls: \"tls\"");
  if (options.verify !== undefined && typeof options.verify !== "boolean") throw new TypeError("relay route: verify must be true or false");
  return {
    kind: "relay",
    url: `${parsed.protocol}//${parsed.host}`,
    tls,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.verify === false ? { verify: false as const } : {}),
  };
}

/** The URL, if delivery reads it as a next hop (a port from 1 to 65535...); else a TypeError for the rule. */
function readableHop(what: string, url: string): string {
  try {
    parseNextHop(url, "");
  } catch (error) {
    throw new TypeError(`${what}: ${(error as Error).message}`);
  }
  return url;
}

/** lmtp://host:port, or unix:/path/to/socket. */
function lmtpUrl(url: string): string {
  if (typeof url === "string" && url.startsWith("unix:")) return `unix:${absolutePath("lmtp", url.slice(5))}`;
  const parsed = typeof url === "string" ? URL.parse(url) : null;
  if (parsed?.protocol === "lmtp:" && parsed.hostname !== "" && parsed.port !== "") return readableHop("lmtp route", `lmtp://${parsed.host}`);
  throw new TypeError(`lmtp route: "${url}" is not lmtp://host:port or unix:/path`);
}

/** Routes for the recipients a target picks: the RCPT being added, or one address, or all. */
export class RoutingView implements Routing {
  readonly #pick: (target?: RouteTarget) => EnvelopeRecipient[];

  constructor(pick: (target?: RouteTarget) => EnvelopeRecipient[]) {
    this.#pick = pick;
  }

  #set(route: Route, target?: RouteTarget): void {
    for (const recipient of this.#pick(target)) recipient.route = route;
  }

  mx(target?: RouteTarget): void {
    this.#set({ kind: "mx" }, target);
  }

  relay(url: string, options: { readonly tls?: "starttls" | "tls" | "none"; readonly credentials?: string; readonly verify?: boolean } & RouteTarget = {}): void {
    this.#set(relayRoute(url, options), options);
  }

  maildir(path: string, target?: RouteTarget): void {
    this.#set({ kind: "maildir", path: absolutePath("maildir", path) }, target);
  }

  mbox(path: string, target?: RouteTarget): void {
    this.#set({ kind: "mbox", path: absolutePath("mbox", path) }, target);
  }

  lmtp(url: string, target?: RouteTarget): void {
    this.#set({ kind: "lmtp", url: lmtpUrl(url) }, target);
  }
}

export type MailSetup = StageSetup & {
  readonly envelope: EnvelopeState;
  readonly mail: { readonly size?: number; readonly body?: string; readonly smtputf8: boolean };
};

export class MailStageContext extends StageContext {
  readonly mail: MailSetup["mail"];
  protected readonly state: EnvelopeState;
  #envelope: Envelope | null = null;

  constructor(stage: Stage, setup: MailSetup) {
    super(stage, setup);
    this.state = setup.envelope;
    this.mail = setup.mail;
  }

  /** Made on first use, as the other views of a context: many stages' rules never look at it. */
  get envelope(): Envelope {
    this.#envelope ??= new EnvelopeView(this.state, this.setup.localDomains);
    return this.#envelope;
  }

  /** Every recipient, or the one a target names (an error if it is not one of them). */
  protected pick(target?: RouteTarget): EnvelopeRecipient[] {
    if (target?.recipient === undefined) return this.state.recipients;
    const wanted = target.recipient.toLowerCase();
    const found = this.state.recipients.filter((recipient) => recipient.mailbox.address.toLowerCase() === wanted);
    if (found.length === 0) throw new TypeError(`route: ${target.recipient} is not a recipient of this message`);
    return found;
  }
}

/** The recipient of the RCPT being run: it reads through to the transaction's pending entry. */
class PendingRecipient implements Recipient {
  readonly #pending: EnvelopeRecipient;
  readonly #localDomains: ReadonlySet<string>;
  readonly #envelope: EnvelopeState;

  constructor(pending: EnvelopeRecipient, localDomains: ReadonlySet<string>, envelope: EnvelopeState) {
    this.#pending = pending;
    this.#localDomains = localDomains;
    this.#envelope = envelope;
  }

  get address(): string {
    return this.#pending.mailbox.address;
  }

  get local(): string {
    return this.#pending.mailbox.local;
  }

  get domain(): string {
    return this.#pending.mailbox.domain;
  }

  get isLocal(): boolean {
    return this.#localDomains.has(this.#pending.mailbox.domain);
  }

  get direction(): Direction {
    return direction(this.#envelope.sender?.domain ?? null, this.#pending.mailbox.domain, this.#localDomains);
  }

  get notify(): readonly string[] | undefined {
    return dsnOf(this.#pending.parameters).notify;
  }

  get orcpt(): string | undefined {
    return dsnOf(this.#pending.parameters).orcpt;
  }

  get route(): Route | null {
    return this.#pending.route;
  }

  /** Changes the address this RCPT adds (the built-in relay control then judges the new one). */
  rewrite(address: string): void {
    this.#pending.mailbox = mailboxOf(address, "recipient");
  }
}

export class RcptStageContext extends MailStageContext {
  readonly rcpt: PendingRecipient;
  readonly #pending: EnvelopeRecipient;
  #route: Routing | null = null;

  /** `pending`: the recipient of this RCPT, not yet in the envelope. */
  constructor(setup: MailSetup, pending: EnvelopeRecipient) {
    super("rcpt", setup);
    this.#pending = pending;
    this.rcpt = new PendingRecipient(pending, setup.localDomains, setup.envelope);
  }

  get route(): Routing {
    this.#route ??= new RoutingView((target) => (target?.recipient === undefined ? [this.#pending] : this.pick(target)));
    return this.#route;
  }
}
