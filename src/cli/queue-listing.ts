// What `petrel queue list` and `petrel queue show` print: a mailq-like line per message (state with when it is
// tried next, age, size, sender, recipients with how far each got), and one message in full with its delivery state.
// Text for people, JSON for scripts. It formats what it is given; it never reads or changes the spool.

import type { AttemptRecord, Envelope, SpoolMessage, SpoolRecipient, State } from "../queue/spool.ts";
import type { QueueEntry } from "./queue-selection.ts";
import { age, columns, printable, printableHeaders, shortened, span } from "./queue-text.ts";

/** How much of a last diagnostic a list line shows (show prints all of it). */
const diagnosticLength = 60;

export function listJson(entries: readonly QueueEntry[]): string {
  return `${JSON.stringify(entries, null, 2)}\n`;
}

/** `filtered`: the listing was narrowed by filters, so no line means "nothing matched", not an empty queue. */
export function listText(entries: readonly QueueEntry[], now: number, filtered: boolean): string {
  if (entries.length === 0) return filtered ? "No message matches\n" : "Mail queue is empty\n";
  const rows = entries.map((entry) => {
    if (entry.envelope === null) {
      return [printable(entry.id), entry.state, "?", "?", "?", `(unreadable: ${shortened(entry.problem, 2 * diagnosticLength)})`];
    }
    const { id, state, envelope } = entry;
    return [
      id,
      stateInList(state, envelope, now),
      age(envelope.receivedAt, now),
      String(envelope.size),
      sender(envelope),
      envelope.recipients.map(recipientInList).join(", "),
    ];
  });
  const header = ["ID", "STATE", "AGE", "SIZE", "SENDER", "RECIPIENTS"];
  const bytes = entries.reduce((sum, entry) => sum + (entry.envelope?.size ?? 0), 0);
  const count = entries.length === 1 ? "1 message" : `${entries.length} messages`;
  return [...columns([header, ...rows], new Set([2, 3])), `-- ${count}, ${bytes} bytes`, ""].join("\n");
}

/** The state with what a person wants to know next: `deferred:14m` (until the next attempt, or `:due`), `quarantine:spam`. */
function stateInList(state: State, envelope: Envelope, now: number): string {
  if (state === "quarantine" && envelope.quarantine !== undefined) return `${state}:${printable(envelope.quarantine)}`;
  if (state !== "deferred" || envelope.schedule === undefined) return state;
  const wait = Date.parse(envelope.schedule.nextAttemptAt) - now;
  return `${state}:${wait > 0 ? span(wait) : "due"}`;
}

/** A recipient with how far it got: `(delivered)`, `(failed 5.1.1)`, or a pending one's last diagnostic. */
function recipientInList(recipient: SpoolRecipient): string {
  const address = printable(recipient.address);
  const { last } = recipient;
  if (recipient.status === "pending") {
    return last === undefined ? address : `${address} (${last.status} ${shortened(last.diagnostic, diagnosticLength)})`;
  }
  return last === undefined ? `${address} (${recipient.status})` : `${address} (${recipient.status} ${last.status})`;
}

export function showJson(id: string, message: SpoolMessage): string {
  const { state, envelope, bodySize, headers } = message;
  const shown = { id, state, envelope, bodySize: bodySize ?? null, headers: headers.toString("utf8") };
  return `${JSON.stringify(shown, null, 2)}\n`;
}

export function showText(id: string, message: SpoolMessage, now: number): Buffer {
  const { state, envelope, headers, bodySize } = message;
  const client = envelope.client;
  const bodyNote =
    bodySize === undefined
      ? " (body file missing: damaged)"
      : bodySize === envelope.size
        ? ""
        : ` (body file has ${bodySize} bytes: damaged)`;
  const indent = "\n             ";
  const lines = [
    `id:          ${id}`,
    `state:       ${state}`,
    ...(envelope.quarantine === undefined ? [] : [`quarantine:  ${printable(envelope.quarantine)}`]),
    `received:    ${printable(envelope.receivedAt)} (${age(envelope.receivedAt, now)} ago)`,
    `size:        ${envelope.size} bytes${bodyNote}`,
    `sender:      ${[sender(envelope), ...envelopeParameters(envelope)].join(" ")}`,
    printable(
      `client:      ${client.name ?? "unknown"} [${client.address}]:${client.port} ` +
        `helo=${client.helo} protocol=${client.protocol}`,
    ),
    `listener:    ${printable(envelope.listener)}`,
    ...(envelope.schedule === undefined ? [] : [`schedule:    ${schedule(envelope, now)}`]),
    `recipients:  ${envelope.recipients.map(recipientInFull).join(indent)}`,
    "-- header section --",
    "",
  ];
  return Buffer.concat([Buffer.from(lines.join("\n")), printableHeaders(headers)]);
}

/** `3 runs, next attempt 2025-03-01T11:00:00.000Z (in 40m), delay warning sent 2025-...` */
function schedule(envelope: Envelope, now: number): string {
  const { runs, nextAttemptAt, delayWarnedAt } = envelope.schedule!;
  const wait = Date.parse(nextAttemptAt) - now;
  const when = wait > 0 ? `in ${span(wait)}` : "due";
  const warned = delayWarnedAt === undefined ? [] : [`delay warning sent ${printable(delayWarnedAt)}`];
  return [`${runs} ${runs === 1 ? "run" : "runs"}`, `next attempt ${printable(nextAttemptAt)} (${when})`, ...warned].join(", ");
}

/**
 * `carol@example.net (pending, 3 attempts) NOTIFY=FAILURE` and, under it, the last attempt:
 * `  last: 2025-03-01T10:20:00.000Z 4.4.1 mx.example.net[192.0.2.1]:25: connection refused`.
 */
function recipientInFull(recipient: SpoolRecipient): string {
  const state: string[] = [recipient.status];
  if (recipient.attempts !== undefined) state.push(`${recipient.attempts} ${recipient.attempts === 1 ? "attempt" : "attempts"}`);
  if (recipient.status !== "pending") state.push(recipient.reported === true ? "reported" : "not reported yet");
  const notify = recipient.notify === undefined ? [] : [`NOTIFY=${[recipient.notify].flat().join(",")}`];
  const orcpt = recipient.orcpt === undefined ? [] : [`ORCPT=${recipient.orcpt.type};${recipient.orcpt.address}`];
  const line = printable([recipient.address, `(${state.join(", ")})`, ...notify, ...orcpt].join(" "));
  return recipient.last === undefined ? line : `${line}\n               last: ${attempt(recipient.last)}`;
}

function attempt(last: AttemptRecord): string {
  const from = last.remote === undefined ? "" : ` ${last.remote}`;
  return printable(`${last.at} ${last.status}${from}: ${last.diagnostic.replace(/\s*\r?\n\s*/g, " ")}`);
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
