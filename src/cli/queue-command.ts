// `petrel queue`: the administrator's view of the spool and hand on it, like Postfix's mailq, qshape, postqueue
// and postsuper in one command. This file reads the arguments (queue-arguments.ts), opens the spool without
// creating it, and looks the subcommand up in one table: list and show (queue-listing.ts), shape
// (queue-shape.ts), and the actions that change the spool (queue-actions.ts). It works while a server runs:
// reading skips what moves under it, and every change is an atomic rename or rewrite. Exit codes: 0 done, 1 a
// message or the spool could not be acted on, 2 a usage mistake.

import type { Writable } from "node:stream";
import { Spool, SpoolError } from "../queue/spool.ts";
import type { SpoolDisk } from "../queue/spool-disk.ts";
import { isSafeId, liveStates, spoolStates } from "../queue/spool-layout.ts";
import { runQueueAction } from "./queue-actions.ts";
import type { ActionOutcome } from "./queue-actions.ts";
import { parseQueueArguments } from "./queue-arguments.ts";
import type { QueueAction, QueueRequest, QueueSubcommand } from "./queue-arguments.ts";
import { listJson, listText, showJson, showText } from "./queue-listing.ts";
import { actAsSpoolOwner } from "./queue-owner.ts";
import { locate, selectEntries } from "./queue-selection.ts";
import { queueShape, shapeJson, shapeText } from "./queue-shape.ts";
import { emit, printable } from "./queue-text.ts";

export type QueueCommandOptions = {
  /** Where error messages go; default process.stderr. */
  errors?: Writable;
  /** The clock for ages, buckets and the time of a bounce; default Date.now. */
  now?: () => number;
  /** The spool's file-system layer; tests pass one that moves messages under the command's feet. */
  disk?: SpoolDisk;
};

const usage = `usage: petrel queue list  [FILTER...] [--json]         one line per message, like mailq
       petrel queue shape [FILTER...] [--by sender] [--json]
                                     pending recipients by domain and age in minutes, like qshape
                                     (default states: incoming, active, deferred)
       petrel queue show ID [--json]               one message: envelope, delivery state, headers
       petrel queue hold    ID... | --all | FILTER...   incoming/, deferred/ -> hold/: not tried until released
       petrel queue release ID... | --all | FILTER...   hold/ -> incoming/ (quarantine/ too, by id or --state quarantine)
       petrel queue flush   [ID... | FILTER...]         deferred/ -> incoming/: try now (no argument: all deferred mail)
       petrel queue requeue ID... | --all | FILTER...   -> incoming/ as never tried: runs and attempt counts reset, so the
                                     back-off starts over; the lifetime still counts from arrival, and a delay warning
                                     already sent is not sent again (from incoming/, deferred/, hold/, and corrupt/
                                     once the message reads as complete)
       petrel queue bounce  ID... | --all | FILTER...   fail every pending recipient now (5.0.0): the sender gets a DSN
       petrel queue remove  ID... | --all | FILTER...   delete from any state but active/, without a DSN
  Actions print what they did per message, take --json, and exit 1 if a message could not be acted on.
  A message in active/ is being delivered: it is refused; try again in a moment.
FILTER (all must match):
  --sender ADDRESS|@DOMAIN|<>   --recipient ADDRESS|@DOMAIN (pending recipients)   --domain DOMAIN (and its subdomains)
  --state STATE[,STATE...] (${spoolStates.join(", ")})   --older-than AGE   --younger-than AGE (90s, 30m, 2h, 5d, 1w)
`;

type Run = { spool: Spool; request: QueueRequest; out: Writable; errors: Writable; now: number };

const subcommands: Record<QueueSubcommand, (run: Run) => Promise<number>> = {
  list,
  shape,
  show,
  hold: (run) => act(run, "hold"),
  release: (run) => act(run, "release"),
  flush: (run) => act(run, "flush"),
  requeue: (run) => act(run, "requeue"),
  bounce: (run) => act(run, "bounce"),
  remove: (run) => act(run, "remove"),
};

/** Runs one `petrel queue` subcommand; resolves to the process exit code (0 ok, 1 failed, 2 usage). */
export async function runQueueCommand(
  argv: string[],
  spoolDir: string,
  out: Writable,
  options: QueueCommandOptions = {},
): Promise<number> {
  const errors = options.errors ?? process.stderr;
  if (argv[0] === "--help" || argv[0] === "help") {
    await emit(out, usage);
    return 0;
  }
  const parsed = parseQueueArguments(argv);
  if (!parsed.ok) {
    await emit(errors, `petrel queue: ${printable(parsed.problem)}\n${usage}`);
    return 2;
  }
  const { request } = parsed;
  try {
    await actAsSpoolOwner(spoolDir);
    const spool = await Spool.open(spoolDir, { create: false, disk: options.disk });
    return await subcommands[request.subcommand]({ spool, request, out, errors, now: (options.now ?? Date.now)() });
  } catch (error) {
    if (!(error instanceof SpoolError)) throw error;
    await emit(errors, `petrel queue ${request.subcommand}: ${printable(error.message)} [${error.code}]\n`);
    return 1;
  }
}

async function list({ spool, request, out, now }: Run): Promise<number> {
  const entries = await selectEntries(spool, spoolStates, request.filters, now);
  await emit(out, request.json ? listJson(entries) : listText(entries, now, Object.keys(request.filters).length > 0));
  return 0;
}

/** qshape looks at the mail on its way (incoming, active, deferred) unless --state says otherwise. */
async function shape({ spool, request, out, now }: Run): Promise<number> {
  const states = request.filters.states ?? liveStates.filter((state) => state !== "hold" && state !== "quarantine");
  const entries = await selectEntries(spool, states, request.filters, now);
  const table = queueShape(entries, request.by, request.filters, now);
  await emit(out, request.json ? shapeJson(table) : shapeText(table));
  return 0;
}

async function show({ spool, request, out, errors, now }: Run): Promise<number> {
  const id = request.ids[0]!;
  const found = await locate(spool, id);
  if (found?.envelope === null) {
    await emit(errors, `petrel queue show: message ${printable(id)} in ${found.state}/ cannot be read: ${printable(found.problem)}\n`);
    return 1;
  }
  if (found !== null && !isSafeId(id)) {
    await emit(errors, `petrel queue show: ${printable(id)} is a copy recovery set aside in corrupt/: see list --state corrupt --json\n`);
    return 1;
  }
  // show() reads the body too; a message that moved since locate() is found again in its new state.
  const message = found === null ? null : await spool.show(id);
  if (message === null) {
    await emit(errors, `petrel queue show: no message with id ${printable(id)} in ${spool.root}\n`);
    return 1;
  }
  await emit(out, request.json ? showJson(id, message) : showText(id, message, now));
  return 0;
}

async function act({ spool, request, out, errors, now }: Run, action: QueueAction): Promise<number> {
  const outcomes: ActionOutcome[] = [];
  await runQueueAction(spool, action, request, now, async (outcome) => {
    outcomes.push(outcome);
    if (request.json) return;
    const line = `${printable(outcome.id)}: ${printable(outcome.message)}\n`;
    if (outcome.done) await emit(out, line);
    else await emit(errors, `petrel queue ${action}: ${line}`);
  });
  if (request.json) await emit(out, `${JSON.stringify(outcomes, null, 2)}\n`);
  else if (outcomes.length === 0) await emit(out, `No message to ${action}\n`);
  return outcomes.every((outcome) => outcome.done) ? 0 : 1;
}
