// `petrel queue list|show`: what is in the spool, for the administrator (text, like mailq) or for
// scripts (--json). It opens the spool read-only and works while a server writes to it: a message that
// moves or vanishes while it is being read is simply skipped. It must never create, change or remove a
// spool file, and never print raw control characters from mail to the administrator's terminal.

import type { Writable } from "node:stream";
import { Spool, SpoolError } from "../queue/spool.ts";
import type { Envelope, SpoolEntry, SpoolMessage } from "../queue/spool.ts";

export type QueueCommandOptions = {
  /** Where error messages go; default process.stderr. */
  errors?: Writable;
  /** The clock for ages; default Date.now. */
  now?: () => number;
};

const usage = `usage: petrel queue list [--json]
       petrel queue show ID [--json]
`;

/** Runs one `petrel queue` subcommand; resolves to the process exit code (0 ok, 1 failed, 2 usage). */
export async function runQueueCommand(
  argv: string[],
  spoolDir: string,
  out: Writable,
  options: QueueCommandOptions = {},
): Promise<number> {
  const errors = options.errors ?? process.stderr;
  const now = options.now ?? Date.now;
  const json = argv.includes("--json");
  const [subcommand, ...operands] = argv.filter((arg) => arg !== "--json");
  if (subcommand === "--help" || subcommand === "help") {
    await emit(out, usage);
    return 0;
  }
  const unknownOption = operands.find((arg) => arg.startsWith("-"));
  const fits = (subcommand === "list" && operands.length === 0) || (subcommand === "show" && operands.length === 1);
  if (!fits || unknownOption !== undefined) {
    const why = unknownOption !== undefined ? `unknown option ${unknownOption}` : "wrong arguments";
    await emit(errors, `petrel queue: ${why}\n${usage}`);
    return 2;
  }
  try {
    const spool = await Spool.open(spoolDir, { create: false });
    if (subcommand === "list") {
      const entries: SpoolEntry[] = [];
      for await (const entry of spool.list()) entries.push(entry);
      await emit(out, json ? `${JSON.stringify(entries, null, 2)}\n` : listText(entries, now()));
      return 0;
    }
    const id = operands[0]!;
    const message = await spool.show(id);
    if (message === null) {
      await emit(errors, `petrel queue show: no message with id ${printable(id)} in ${spoolDir}\n`);
      return 1;
    }
    if (json) {
      const { state, envelope, bodySize, headers } = message;
      const shown = { id, state, envelope, bodySize: bodySize ?? null, headers: headers.toString("utf8") };
      await emit(out, `${JSON.stringify(shown, null, 2)}\n`);
    } else {
      await emit(out, showText(id, message, now()));
    }
    return 0;
  } catch (error) {
    if (!(error instanceof SpoolError)) throw error;
    await emit(errors, `petrel queue ${subcommand}: ${error.message} [${error.code}]\n`);
    return 1;
  }
}

function listText(entries: SpoolEntry[], now: number): string {
  if (entries.length === 0) return "Mail queue is empty\n";
  const rows = entries.map(({ id, state, envelope }) => [
    id,
    state,
    age(envelope.receivedAt, now),
    String(envelope.size),
    sender(envelope),
    envelope.recipients.map((recipient) => printable(recipient.address)).join(", "),
  ]);
  const header = ["ID", "STATE", "AGE", "SIZE", "SENDER", "RECIPIENTS"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const rightAligned = new Set([2, 3]);
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join("  ");
  const bytes = entries.reduce((sum, entry) => sum + entry.envelope.size, 0);
  const count = entries.length === 1 ? "1 message" : `${entries.length} messages`;
  return [line(header), ...rows.map(line), `-- ${count}, ${bytes} bytes`, ""].join("\n");
}

function showText(id: string, message: SpoolMessage, now: number): Buffer {
  const { state, envelope, headers, bodySize } = message;
  const parameters = envelopeParameters(envelope);
  const client = envelope.client;
  const bodyNote =
    bodySize === undefined
      ? " (body file missing: damaged)"
      : bodySize === envelope.size
        ? ""
        : ` (body file has ${bodySize} bytes: damaged)`;
  const recipients = envelope.recipients.map((recipient) => {
    const notify = recipient.notify === undefined ? [] : [`NOTIFY=${[recipient.notify].flat().join(",")}`];
    const orcpt = recipient.orcpt === undefined ? [] : [`ORCPT=${recipient.orcpt.type};${recipient.orcpt.address}`];
    return printable([recipient.address, `(${recipient.status})`, ...notify, ...orcpt].join(" "));
  });
  const lines = [
    `id:          ${id}`,
    `state:       ${state}`,
    `received:    ${printable(envelope.receivedAt)} (${age(envelope.receivedAt, now)} ago)`,
    `size:        ${envelope.size} bytes${bodyNote}`,
    `sender:      ${[sender(envelope), ...parameters].join(" ")}`,
    printable(
      `client:      ${client.name ?? "unknown"} [${client.address}]:${client.port} ` +
        `helo=${client.helo} protocol=${client.protocol}`,
    ),
    `listener:    ${printable(envelope.listener)}`,
    `recipients:  ${recipients.join("\n             ")}`,
    "-- header section --",
    "",
  ];
  return Buffer.concat([Buffer.from(lines.join("\n")), printableHeaders(headers)]);
}

function envelopeParameters(envelope: Envelope): string[] {
  const { body, smtputf8, ret, envid, size, auth } = envelope.senderParameters;
  const words: string[] = [];
  if (body !== undefined) words.push(`BODY=${body}`);
  if (smtputf8 === true) words.push("SMTPUTF8");
  if (ret !== undefined) words.push(`RET=${ret}`);
  if (envid !== undefined) words.push(`ENVID=${envid}`);
  if (size !== undefined) words.push(`SIZE=${size}`);
  if (auth !== undefined) words.push(`AUTH=${auth}`);
  return words.map(printable);
}

function sender(envelope: Envelope): string {
  return `<${printable(envelope.sender)}>`;
}

/** 45s, 12m, 5h, 3d: coarse, like qshape's buckets. */
function age(receivedAt: string, now: number): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(receivedAt)) / 1000));
  if (Number.isNaN(seconds)) return "?";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** Replaces control characters (which could drive the terminal) with "?". */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/** The header bytes as they are, except control bytes other than TAB, CR and LF. */
function printableHeaders(headers: Buffer): Buffer {
  const copy = Buffer.from(headers);
  for (let i = 0; i < copy.length; i++) {
    const byte = copy[i]!;
    if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) || byte === 0x7f) copy[i] = 0x3f;
  }
  return copy;
}

function emit(stream: Writable, text: string | Buffer): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}
