// The envelope file: the small JSON file that says who a spooled message is from and for, and proves
// that the message is complete. It carries a format version and the exact byte size of the body file;
// a file that does not parse, has another version, names another id, or whose body has another size
// is damaged. This file only converts between bytes and envelopes: it must never touch the disk.

import { z } from "zod";

export type DsnNotify = "NEVER" | ("SUCCESS" | "FAILURE" | "DELAY")[];

/** Where a recipient's mail goes, as a rule set it (rules/api.ts); no route: the default one. Never credentials. */
export type Route =
  | { readonly kind: "mx" }
  | { readonly kind: "relay"; readonly url: string; readonly tls: "starttls" | "tls" | "none"; readonly credentials?: string }
  | { readonly kind: "maildir"; readonly path: string }
  | { readonly kind: "mbox"; readonly path: string }
  | { readonly kind: "lmtp"; readonly url: string };

export type SpoolRecipient = {
  address: string;
  notify?: DsnNotify;
  orcpt?: { type: string; address: string };
  route?: Route;
  status: "pending";
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
  }),
  z.object({ kind: z.literal("maildir"), path: z.string() }),
  z.object({ kind: z.literal("mbox"), path: z.string() }),
  z.object({ kind: z.literal("lmtp"), url: z.string() }),
]);

const recipientSchema = z.object({
  address: z.string(),
  notify: notifySchema.optional(),
  orcpt: z.object({ type: z.string(), address: z.string() }).optional(),
  route: routeSchema.optional(),
  status: z.literal("pending"),
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
