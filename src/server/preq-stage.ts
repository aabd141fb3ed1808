// The preq stage: the message has been received whole and is not yet queued; its rules see and edit the
// header section, the envelope and the routes, then the server either queues the message (with the edited
// header section written into it, below Petrel's own Received header), quarantines it, drops it, or refuses
// it. A header section longer than
// HEADER_LIMIT can be read by rules but not edited: an edit then fails the stage closed.

import { HeaderFields } from "../message/header-fields.ts";
import { headerSectionEnd } from "../message/submission-headers.ts";
import { MessageStageContext } from "../rules/message-context.ts";
import { runStage } from "../rules/run-stage.ts";
import { CONTINUE, type Decision, decide, failed } from "./rule-verdicts.ts";
import { stageSetup } from "./rule-stages.ts";
import type { Session } from "./session.ts";
import type { Transaction } from "./transaction.ts";

const HEADER_LIMIT = 256 * 1024;
const FIRST_READ = 16 * 1024;

/** Runs the preq rules on the message the transaction holds; the edits are in it when this resolves. */
export async function preqStage(session: Session, transaction: Transaction): Promise<Decision> {
  const rules = session.context.rules.book.preq;
  if (rules.length === 0 || session.rulesSkipped()) return CONTINUE;
  // Rules edit the client's header section; Petrel's Received header stays first, above whatever they add.
  const start = transaction.receivedLength;
  // Most header sections fit in the first 16 KiB: read more only when the end is not there.
  let read = await transaction.readHead(start + FIRST_READ);
  let end = headerSectionEnd(read.subarray(start));
  if (end < 0 && transaction.size > read.length) {
    read = await transaction.readHead(start + HEADER_LIMIT);
    end = headerSectionEnd(read.subarray(start));
  }
  const head = read.subarray(start);
  const whole = end >= 0 || transaction.size - start <= HEADER_LIMIT;
  // The fields end with the CRLF of the last one; the empty line stays in the body part.
  const length = end >= 2 ? end - 2 : end === -1 && whole ? head.length : 0;
  const fields = new HeaderFields(head.subarray(0, length));
  const context = session.context;
  const ctx = new MessageStageContext(
    "preq",
    {
      ...stageSetup(session, session.knownClientName !== undefined ? session.knownClientName : await session.clientName),
      envelope: transaction,
      mail: transaction.mailInfo,
    },
    transaction,
    { fields, start, length },
  );
  const decision = decide(session, "preq", await runStage(rules, ctx, context.rules.timeout));
  if (decision.action === "refuse" || !fields.changed) return decision;
  if (end < 0 && !whole) return failed(session, "preq", "(header edits)", "", "header section too long to edit");
  await transaction.replaceHead(start + length, Buffer.concat([read.subarray(0, start), fields.toBuffer()]));
  return decision;
}
