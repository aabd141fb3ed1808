// The arguments of `petrel queue`: the subcommand, which messages (queue ids, or --all and filters), and how to
// print (--json, --by). One table says what each subcommand takes. A mistake comes back as a problem to show
// with the usage (exit 2), never as an exception; nothing here reads the spool.

import { parseDuration } from "../config/units.ts";
import { isState, spoolStates } from "../queue/spool-layout.ts";
import type { State } from "../queue/spool-layout.ts";

/** An address filter: the null sender, one address, or every address at one domain (`@example.com`). */
export type AddressPattern =
  | { readonly kind: "null" }
  | { readonly kind: "address"; readonly address: string }
  | { readonly kind: "domain"; readonly domain: string };

/** Conditions a message must all meet (AND); an absent one is no condition. */
export type QueueFilters = {
  readonly sender?: AddressPattern;
  /** Matched against the recipients still pending. */
  readonly recipient?: AddressPattern;
  /** A pending recipient's domain is this domain or one of its subdomains. */
  readonly domain?: string;
  readonly states?: readonly State[];
  /** Milliseconds since arrival, more than / less than. */
  readonly olderThan?: number;
  readonly youngerThan?: number;
};

export type ShapeBy = "recipient" | "sender";

export type QueueRequest = {
  readonly subcommand: QueueSubcommand;
  readonly ids: readonly string[];
  readonly all: boolean;
  readonly filters: QueueFilters;
  readonly json: boolean;
  readonly by: ShapeBy;
};

export type ParsedArguments = { ok: true; request: QueueRequest } | { ok: false; problem: string };

const optionKinds = {
  "--json": "flag",
  "--all": "flag",
  "--sender": "value",
  "--recipient": "value",
  "--domain": "value",
  "--state": "value",
  "--older-than": "value",
  "--younger-than": "value",
  "--by": "value",
} as const;

type OptionName = keyof typeof optionKinds;

const filterOptions = ["--sender", "--recipient", "--domain", "--state", "--older-than", "--younger-than"] as const;
const actionOptions = [...filterOptions, "--all", "--json"] as const;

/** What each subcommand takes: how many queue ids, and which options. */
const subcommands = {
  list: { ids: "none", options: [...filterOptions, "--json"] },
  shape: { ids: "none", options: [...filterOptions, "--json", "--by"] },
  show: { ids: "one", options: ["--json"] },
  hold: { ids: "many", options: actionOptions },
  release: { ids: "many", options: actionOptions },
  flush: { ids: "many", options: actionOptions },
  requeue: { ids: "many", options: actionOptions },
  bounce: { ids: "many", options: actionOptions },
  remove: { ids: "many", options: actionOptions },
} as const satisfies Record<string, { ids: "none" | "one" | "many"; options: readonly OptionName[] }>;

export type QueueSubcommand = keyof typeof subcommands;

/** Subcommands that change the spool. */
export type QueueAction = Exclude<QueueSubcommand, "list" | "shape" | "show">;

export function parseQueueArguments(argv: readonly string[]): ParsedArguments {
  const [name = "", ...rest] = argv;
  if (!Object.hasOwn(subcommands, name)) {
    return { ok: false, problem: name === "" ? "which subcommand?" : `unknown subcommand ${JSON.stringify(name)}` };
  }
  const subcommand = name as QueueSubcommand;
  const shape = subcommands[subcommand];
  const values = new Map<OptionName, string>();
  const ids: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith("-")) {
      if (!ids.includes(arg)) ids.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const option = equals < 0 ? arg : arg.slice(0, equals);
    if (!(shape.options as readonly string[]).includes(option)) return { ok: false, problem: `${subcommand} takes no option ${option}` };
    const kind = optionKinds[option as OptionName];
    let value = "";
    if (kind === "value") {
      const next = equals < 0 ? rest[++i] : arg.slice(equals + 1);
      if (next === undefined) return { ok: false, problem: `${option} needs a value` };
      value = next;
    } else if (equals >= 0) return { ok: false, problem: `${option} takes no value` };
    if (kind === "value" && values.has(option as OptionName)) return { ok: false, problem: `${option} given twice` };
    values.set(option as OptionName, value);
  }

  const filters = parseFilters(values);
  if (typeof filters === "string") return { ok: false, problem: filters };
  const by = values.get("--by") ?? "recipient";
  if (by !== "recipient" && by !== "sender") return { ok: false, problem: "--by takes recipient or sender" };
  const all = values.has("--all");
  const selecting = all || Object.keys(filters).length > 0;
  if (shape.ids === "none" && ids.length > 0) return { ok: false, problem: `${subcommand} takes no queue id` };
  if (shape.ids === "one" && ids.length !== 1) return { ok: false, problem: `${subcommand} takes one queue id` };
  if (shape.ids === "many") {
    if (ids.length > 0 && selecting) return { ok: false, problem: "name queue ids, or select with --all and filters, not both" };
    if (ids.length === 0 && !selecting && subcommand !== "flush") {
      return { ok: false, problem: `${subcommand} needs queue ids, --all, or filters` };
    }
  }
  return { ok: true, request: { subcommand, ids, all, filters, json: values.has("--json"), by } };
}

/** The filters given, or the problem with one of them. */
function parseFilters(values: ReadonlyMap<OptionName, string>): QueueFilters | string {
  const filters: {
    sender?: AddressPattern;
    recipient?: AddressPattern;
    domain?: string;
    states?: State[];
    olderThan?: number;
    youngerThan?: number;
  } = {};
  const sender = values.get("--sender");
  if (sender !== undefined) {
    const pattern = addressPattern(sender);
    if (pattern === undefined) return "--sender takes an address, @domain, or <> (the null sender)";
    filters.sender = pattern;
  }
  const recipient = values.get("--recipient");
  if (recipient !== undefined) {
    const pattern = addressPattern(recipient);
    if (pattern === undefined || pattern.kind === "null") return "--recipient takes an address or @domain";
    filters.recipient = pattern;
  }
  const domain = values.get("--domain");
  if (domain !== undefined) {
    const name = domainName(domain);
    if (name === undefined) return "--domain takes a domain (example.com)";
    filters.domain = name;
  }
  const states = values.get("--state");
  if (states !== undefined) {
    const names = states.split(",").map((state) => state.trim());
    if (!names.every(isState)) return `--state takes ${spoolStates.join(", ")} (or several, comma-separated)`;
    filters.states = names;
  }
  for (const [option, key] of [["--older-than", "olderThan"], ["--younger-than", "youngerThan"]] as const) {
    const text = values.get(option);
    if (text === undefined) continue;
    // A unit is required: a bare "30" would be read as 30 milliseconds.
    const milliseconds = /[a-z]$/i.test(text.trim()) ? parseDuration(text) : undefined;
    if (milliseconds === undefined) return `${option} takes an age with a unit: 90s, 30m, 2h, 5d, 1w`;
    filters[key] = milliseconds;
  }
  return filters;
}

function addressPattern(text: string): AddressPattern | undefined {
  const value = text.trim();
  if (value === "" || value === "<>") return { kind: "null" };
  if (/[\s<>]/.test(value)) return undefined;
  if (value.startsWith("@")) {
    const domain = domainName(value.slice(1));
    return domain === undefined ? undefined : { kind: "domain", domain };
  }
  return { kind: "address", address: value.toLowerCase() };
}

/** A domain as filters compare it: lower case, without a final dot; undefined if it is not one. */
function domainName(text: string): string | undefined {
  const domain = text.trim().toLowerCase().replace(/\.$/, "");
  return domain === "" || /[\s@<>/]/.test(domain) || domain.startsWith(".") ? undefined : domain;
}
