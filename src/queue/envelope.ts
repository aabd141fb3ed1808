// The envelope file: the small JSON file that says who a spooled message is from and for, and proves
// that the message is complete. It carries a format version and the exact byte size of the body file;
// a file that does not parse, has another version, names another id, or whose body has another size
// is damaged. This file only converts between bytes and envelopes: it must never touch the disk.

import { z } from "zod";

export type DsnNotify = "NEVER" | ("SUCCESS" | "FAILURE" | "DELAY")[];

/** Where a recipient's mail goes, as a rule set it (rules/api.ts); no route: the default one. Never credentials. */
export type Route =
  | { readonly kind: "mx" }
  | { readonly kind: "relay"; readonly url: string; readonly tls: "starttls" | "tls" | "none"; readonly credentials?: string; readonly verify?: false }
  | { readonly kind: "maildir"; readonly path: string }
  | { readonly kind: "mbox"; readonly path: string }
  | { readonly kind: "lmtp"; readonly url: string };

/**
 * pending: not delivered yet (never tried, or deferred); delivered and failed are final and never tried
 * again. A final recipient whose DSN (or the decision that none is due) is written gets `reported`.
 */
export type RecipientStatus = "pending" | "delivered" | "failed";

/** The outcome of the last attempt for a recipient, as the log and the DSN report it. */
export type AttemptRecord = {
  /** ISO 8601 time of the attempt. */
  at: string;
  /** The enhanced status code (RFC 3463) that sums the outcome up: 2.0.0, 4.4.1, 5.1.1... */
  status: string;
  /** The remote's reply, or Petrel's own words for a local cause ("connection refused"). */
  diagnostic: string;
  /** Whom the reply came from: "mx.example.com[192.0.2.1]:25", "maildir:/var/mail/x", ... */
  remote?: string;
};

export type SpoolRecipient = {
  address: string;
  notify?: DsnNotify;
  orcpt?: { type: string; address: string };
  route?: Route;
  status: RecipientStatus;
  /** Delivery attempts made for this recipient. */
  attempts?: number;
  last?: AttemptRecord;
  /** Set once the DSN a final outcome calls for is in the queue (or none was due). */
  reported?: true;
};

/** The schedule of a message that was tried at least once. */
export type DeliverySchedule = {
  /** Delivery runs over this message so far. */
  runs: number;
  /** ISO 8601: not to be tried before then (deferred/). */
  nextAttemptAt: string;
  /** ISO 8601: when the delay warning (DSN action "delayed") went out. */
  delayWarnedAt?: string;
};

export type SenderParameters = {
  body?: string;
  smtputf8?: boolean;
  ret?: "FULL" | "HDRS";
  envid?: string;
  size?: number;
  auth?: string;
};

export type SpoolClient = { address: string; port: number; name?: string; helo: string; protocol: string };

export type Envelope = {
  version: 1;
  id: string;
  /** ISO 8601 time the message was received. */
  receivedAt: string;
  /** "" is the null sender (MAIL FROM:<>). */
  sender: string;
  senderParameters: SenderParameters;
  recipients: SpoolRecipient[];
  client: SpoolClient;
  listener: string;
  /** Set when a rule quarantined the message: the quarantine's name (the envelope is in quarantine/). */
  quarantine?: string;
  /** Set by the scheduler once the message has been tried. */
  schedule?: DeliverySchedule;
  /**
   * ISO 8601: when an administrator last asked for a try now (`petrel queue flush`, `release`, `requeue`); a
   * destination paused after an error before then is tried for this message anyway.
   */
  retryAskedAt?: string;
  /** Set once the postq rules have let the message through; "faccept": no rule runs again for it. */
  postq?: "done" | "faccept";
  /** Bytes in the body file. */
  size: number;
};

/** What the server hands to commit(): the spool adds the version and the size it counted. */
export type EnvelopeDraft = Omit<Envelope, "version" | "size">;

const notifySchema = z.union([
  z.literal("NEVER"),
  z.array(z.enum(["SUCCESS", "FAILURE", "DELAY"])).min(1),
]);

const routeSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("mx") }),
  z.object({
    kind: z.literal("relay"),
    url: z.string(),
    tls: z.enum(["starttls", "tls", "none"]),
    credentials: z.string().optional(),
    verify: z.literal(false).optional(),
  }),
  z.object({ kind: z.literal("maildir"), path: z.string() }),
  z.object({ kind: z.literal("mbox"), path: z.string() }),
  z.object({ kind: z.literal("lmtp"), url: z.string() }),
]);

const attemptSchema = z.object({
  at: z.iso.datetime({ offset: true }),
  status: z.string().regex(/^[245]\.\d{1,3}\.\d{1,3}$/),
  diagnostic: z.string(),
  remote: z.string().optional(),
});

const recipientSchema = z.object({
  address: z.string(),
  notify: notifySchema.optional(),
  orcpt: z.object({ type: z.string(), address: z.string() }).optional(),
  route: routeSchema.optional(),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number().int().nonnegative().optional(),
  last: attemptSchema.optional(),
  reported: z.literal(true).optional(),
});

const scheduleSchema = z.object({
  runs: z.number().int().nonnegative(),
  nextAttemptAt: z.iso.datetime({ offset: true }),
  delayWarnedAt: z.iso.datetime({ offset: true }).optional(),
});

const envelopeSchema: z.ZodType<Envelope> = z.object({
  version: z.literal(1),
  id: z.string().min(1),
  receivedAt: z.iso.datetime({ offset: true }),
  sender: z.string(),
  senderParameters: z.object({
    body: z.string().optional(),
    smtputf8: z.boolean().optional(),
    ret: z.enum(["FULL", "HDRS"]).optional(),
    envid: z.string().optional(),
    size: z.number().int().nonnegative().optional(),
    auth: z.string().optional(),
  }),
  recipients: z.array(recipientSchema).min(1),
  client: z.object({
    address: z.string(),
    port: z.number().int().min(0).max(65535),
    name: z.string().optional(),
    helo: z.string(),
    protocol: z.string(),
  }),
  listener: z.string(),
  quarantine: z.string().optional(),
  schedule: scheduleSchema.optional(),
  retryAskedAt: z.iso.datetime({ offset: true }).optional(),
  postq: z.enum(["done", "faccept"]).optional(),
  size: z.number().int().nonnegative(),
});

export type EnvelopeCheck = { ok: true; envelope: Envelope } | { ok: false; problem: string };

/** Checks an envelope built in memory (before it is written). */
export function checkEnvelope(candidate: unknown): EnvelopeCheck {
  const result = envelopeSchema.safeParse(candidate);
  if (result.success) return { ok: true, envelope: result.data };
  const first = result.error.issues[0];
  const where = first === undefined || first.path.length === 0 ? "envelope" : first.path.join(".");
  return { ok: false, problem: `${where}: ${first?.message ?? "invalid"}` };
}

/** Reads an envelope file's bytes; `id` is the file's name, which the envelope must repeat. */
export function parseEnvelopeFile(bytes: Buffer, id: string): EnvelopeCheck {
  let candidate: unknown;
  try {
    candidate = JSON.parse(bytes.toString("utf8"));
  } catch {
    return { ok: false, problem: `not complete JSON (${bytes.length} bytes)` };
  }
  if (typeof candidate === "object" && candidate !== null && "version" in candidate && candidate.version !== 1) {
    return { ok: false, problem: `unsupported envelope version ${JSON.stringify(candidate.version)}` };
  }
  const check = checkEnvelope(candidate);
  if (check.ok && check.envelope.id !== id) {
    return { ok: false, problem: `envelope names id ${check.envelope.id}, file is ${id}` };
  }
  return check;
}

export function serializeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(`${JSON.stringify(envelope)}\n`, "utf8");
}
