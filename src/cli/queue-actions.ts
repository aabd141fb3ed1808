// `petrel queue hold|release|flush|requeue|bounce|remove`: the administrator's changes to spooled mail, made while
// the server runs. One table says where each action takes a message from and to and how it changes the envelope.
//
// Safety with a running scheduler rests on the spool's atomic renames and rewrites alone:
// - a message in active/ is being delivered: it is refused whole ("try again in a moment"), never half-changed;
// - a plain move that finds the message gone (the scheduler moved it) looks for it again and decides anew;
// - a change to the envelope of a message in incoming/ or deferred/ (the scheduler's states) first claims it by
//   moving it to hold/, which the scheduler never touches, then reads it back, rewrites it and moves it on. So no
//   scheduler holds an older copy it could write back over the change; a failure half-way leaves it in hold/.
// Nothing here prints (the outcomes go back to queue-command.ts, which makes them safe for a terminal).

import { SpoolError } from "../queue/spool.ts";
import type { AttemptRecord, Envelope, Spool, State } from "../queue/spool.ts";
import { isSafeId, spoolStates } from "../queue/spool-layout.ts";
import type { QueueAction, QueueRequest } from "./queue-arguments.ts";
import { locate, selectEntries } from "./queue-selection.ts";
import type { QueueEntry } from "./queue-selection.ts";

export type ActionOutcome = {
  readonly id: string;
  readonly done: boolean;
  /** The state the message was found in; null if there was none. */
  readonly from: State | null;
  /** Where the message is now; null when it was removed (or never found). */
  readonly to: State | null;
  /** What was done, or why nothing was. */
  readonly message: string;
};

/** A new envelope (null: the envelope stays as it is) with a note for the report, or why the action cannot be done. */
type Preparation = { readonly refused: string } | { readonly envelope: Envelope | null; readonly note?: string };

type ActionSpec = {
  /** The report's phrase for a message done: "held", "released to incoming/". */
  readonly report: string;
  /** The states the action takes a message from. */
  readonly from: readonly State[];
  /** Where the message goes; null: removed. */
  readonly to: State | null;
  /** The states --all and filters look in, unless --state names others; a message in active/ is reported as busy. */
  readonly selects: readonly State[];
  /** A message already where the action would put it counts as done (hold a held message, flush an incoming one). */
  readonly idempotent: boolean;
  readonly prepare?: (envelope: Envelope, at: Date) => Preparation;
  /** For --all and filters: messages worth acting on (others are passed over silently). */
  readonly wants?: (envelope: Envelope) => boolean;
};

/** RFC 3463 has no detail code for an administrator's decision: X.0.0 is the code for "only the class is known". */
export const bounceStatus = "5.0.0";
export const bounceDiagnostic = "returned by the administrator (petrel queue bounce)";

export const queueActions = {
  hold: {
    report: "held",
    from: ["incoming", "deferred"],
    to: "hold",
    selects: ["incoming", "active", "deferred"],
    idempotent: true,
  },
  release: {
    report: "released to incoming/",
    from: ["hold", "quarantine"],
    to: "incoming",
    // Quarantined mail leaves only when named: by id, or with --state quarantine.
    selects: ["hold"],
    idempotent: false,
    prepare: triedNow(leaveQuarantine),
  },
  flush: {
    report: "flushed to incoming/",
    from: ["deferred"],
    to: "incoming",
    selects: ["deferred"],
    idempotent: true,
    prepare: triedNow(),
  },
  requeue: {
    report: "requeued to incoming/",
    from: ["incoming", "deferred", "hold", "corrupt"],
    to: "incoming",
    selects: ["incoming", "active", "deferred", "hold"],
    idempotent: false,
    prepare: triedNow(startOver),
  },
  bounce: {
    report: "bounced",
    from: ["incoming", "deferred", "hold"],
    to: "incoming",
    selects: ["incoming", "active", "deferred", "hold"],
    idempotent: false,
    prepare: returnToSender,
    wants: (envelope) => envelope.recipients.some((recipient) => recipient.status === "pending"),
  },
  remove: {
    report: "removed",
    from: ["incoming", "deferred", "hold", "quarantine", "corrupt"],
    to: null,
    selects: spoolStates,
    idempotent: false,
  },
} as const satisfies Record<QueueAction, ActionSpec>;

/** How many times a message that keeps moving is looked for again before the action gives up on it. */
const rounds = 3;
/** Messages acted on at once: their folder fsyncs are shared (spool group commit). */
const batchSize = 16;

/**
 * Runs the action on the named messages, or on those --all and the filters select; `report` gets each outcome in
 * order as soon as its batch is done.
 */
export async function runQueueAction(
  spool: Spool,
  action: QueueAction,
  request: QueueRequest,
  now: number,
  report: (outcome: ActionOutcome) => Promise<void>,
): Promise<void> {
  const spec: ActionSpec = queueActions[action];
  const at = new Date(now);
  const targets: { id: string; known?: QueueEntry }[] =
    request.ids.length > 0
      ? request.ids.map((id) => ({ id }))
      : (await selectEntries(spool, request.filters.states ?? spec.selects, request.filters, now))
          .filter((entry) => entry.envelope === null || spec.wants === undefined || spec.wants(entry.envelope))
          .map((entry) => ({ id: entry.id, known: entry }));
  for (let start = 0; start < targets.length; start += batchSize) {
    const batch = targets.slice(start, start + batchSize);
    const outcomes = await Promise.all(batch.map(({ id, known }) => actOn(spool, action, spec, id, known, at)));
    for (const outcome of outcomes) await report(outcome);
  }
}

async function actOn(spool: Spool, action: QueueAction, spec: ActionSpec, id: string, known: QueueEntry | undefined, at: Date): Promise<ActionOutcome> {
  for (let round = 0; round < rounds; round++) {
    const entry = round === 0 && known !== undefined ? known : await locate(spool, id);
    if (entry === null) {
      return refused(id, null, round === 0 ? "no message with this id" : "left the queue meanwhile (delivered or removed)");
    }
    const { state } = entry;
    if (state === "active") return refused(id, state, "is being delivered right now; try again in a moment");
    if (state === spec.to && spec.idempotent) return { id, done: true, from: state, to: state, message: `already in ${state}/` };
    if (!spec.from.includes(state)) {
      return refused(id, state, `is in ${state}/; ${action} takes messages in ${spec.from.map((from) => `${from}/`).join(", ")}`);
    }
    try {
      return await apply(spool, spec, entry, at);
    } catch (error) {
      if (!(error instanceof SpoolError)) throw error;
      if (error.code === "SPOOL_NOT_FOUND") continue; // another process moved it: look again
      return refused(id, state, `${error.message} [${error.code}]`);
    }
  }
  return refused(id, null, "kept moving while petrel queue acted on it; try again");
}

async function apply(spool: Spool, spec: ActionSpec, entry: QueueEntry, at: Date): Promise<ActionOutcome> {
  const { id, state } = entry;
  if (spec.to === null) {
    if (state === "corrupt") await spool.removeCorrupt(id);
    else await spool.remove(state, id);
    return { id, done: true, from: state, to: null, message: `${spec.report} (was in ${state}/)` };
  }
  if (spec.prepare === undefined) {
    await spool.move(id, state, spec.to);
    return { id, done: true, from: state, to: spec.to, message: `${spec.report} (was in ${state}/)` };
  }
  if (entry.envelope === null) return refused(id, state, `its envelope cannot be read (${entry.problem}); only remove takes it`);
  if (state === "corrupt") {
    const damage = await damageOf(spool, id, entry.envelope);
    if (damage !== undefined) return refused(id, state, `${damage}; only remove takes it`);
  }
  return await changeAndMove(spool, spec, entry.envelope, state, spec.to, spec.prepare, at);
}

async function changeAndMove(
  spool: Spool,
  spec: ActionSpec,
  found: Envelope,
  from: State,
  to: State,
  prepare: NonNullable<ActionSpec["prepare"]>,
  at: Date,
): Promise<ActionOutcome> {
  const id = found.id;
  const claimed = from === "incoming" || from === "deferred";
  if (claimed) await spool.move(id, from, "hold");
  const here: State = claimed ? "hold" : from;
  try {
    // Claimed, the envelope is read again: it is the one the scheduler last wrote, and nobody writes it now.
    const envelope = claimed ? await spool.read("hold", id) : found;
    if (envelope === null) throw new SpoolError("SPOOL_NOT_FOUND", `message ${id} left hold/ at once`);
    const preparation = prepare(envelope, at);
    if ("refused" in preparation) {
      if (claimed) await spool.move(id, "hold", from);
      return refused(id, from, preparation.refused);
    }
    if (preparation.envelope !== null) await spool.rewrite(here, preparation.envelope);
    await spool.move(id, here, to);
    const note = preparation.note === undefined ? "" : `; ${preparation.note}`;
    return { id, done: true, from, to, message: `${spec.report} (was in ${from}/)${note}` };
  } catch (error) {
    if (!claimed || !(error instanceof SpoolError) || error.code === "SPOOL_NOT_FOUND") throw error;
    throw new SpoolError(error.code, `${error.message}; the message is left in hold/`, { cause: error });
  }
}

/** Why a message in corrupt/ cannot go back to the queue as it is, or undefined if it reads as complete now. */
async function damageOf(spool: Spool, id: string, envelope: Envelope): Promise<string | undefined> {
  if (!isSafeId(id)) return "it is a second copy of a queue id that recovery set aside";
  const message = await spool.show(id);
  if (message === null || message.state !== "corrupt") throw new SpoolError("SPOOL_NOT_FOUND", `message ${id} left corrupt/`);
  if (message.bodySize === undefined) return "its body file is missing";
  if (message.bodySize !== envelope.size) return `its body file has ${message.bodySize} bytes, the envelope says ${envelope.size}`;
  return undefined;
}

/**
 * flush, release and requeue ask for a try now: the time goes into the envelope, and a destination paused after an
 * error before then (delivery/destination-health.ts) is tried for the message anyway.
 */
function triedNow(prepare?: (envelope: Envelope, at: Date) => Preparation): (envelope: Envelope, at: Date) => Preparation {
  return (envelope, at) => {
    const prepared = prepare === undefined ? { envelope: null } : prepare(envelope, at);
    if ("refused" in prepared) return prepared;
    return { ...prepared, envelope: { ...(prepared.envelope ?? envelope), retryAskedAt: at.toISOString() } };
  };
}

/** release: a quarantined message loses its quarantine's name as it leaves quarantine/. */
function leaveQuarantine(envelope: Envelope): Preparation {
  if (envelope.quarantine === undefined) return { envelope: null };
  const { quarantine, ...released } = envelope;
  return { envelope: released, note: `was quarantined as ${quarantine}` };
}

/**
 * requeue: the message goes back as never tried, so the back-off starts over from delivery.retry_min: the runs and
 * the next attempt time go, and so do the attempt counts of pending recipients (each one's last outcome stays for
 * `show`; final recipients keep all they have). The arrival time stays, and with it the lifetime the scheduler
 * counts from it; so does the time a delay warning went out, so that the sender is not warned twice.
 */
function startOver(envelope: Envelope, at: Date): Preparation {
  const { schedule, ...rest } = envelope;
  const recipients = envelope.recipients.map((recipient) => {
    if (recipient.status !== "pending" || recipient.attempts === undefined) return recipient;
    const { attempts, ...unattempted } = recipient;
    return unattempted;
  });
  if (schedule === undefined) return { envelope: { ...rest, recipients }, note: "never tried yet" };
  const { delayWarnedAt } = schedule;
  const warned = delayWarnedAt === undefined ? {} : { schedule: { runs: 0, nextAttemptAt: at.toISOString(), delayWarnedAt } };
  return { envelope: { ...rest, ...warned, recipients }, note: "schedule reset" };
}

/** bounce: every pending recipient fails now, not reported yet, so the scheduler sends the DSN when it takes the message. */
function returnToSender(envelope: Envelope, at: Date): Preparation {
  const pending = envelope.recipients.filter((recipient) => recipient.status === "pending").length;
  if (pending === 0) return { refused: "has no pending recipient to return" };
  const last: AttemptRecord = { at: at.toISOString(), status: bounceStatus, diagnostic: bounceDiagnostic };
  const recipients = envelope.recipients.map((recipient) =>
    recipient.status === "pending" ? { ...recipient, status: "failed" as const, last } : recipient,
  );
  const failed = `${pending} ${pending === 1 ? "recipient" : "recipients"} failed`;
  const dsn = envelope.sender === "" ? "no DSN: the sender is null" : "the DSN goes out at the next delivery run";
  return { envelope: { ...envelope, recipients }, note: `${failed}, ${dsn}` };
}

function refused(id: string, state: State | null, message: string): ActionOutcome {
  return { id, done: false, from: state, to: state, message };
}
