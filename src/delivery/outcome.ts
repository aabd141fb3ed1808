// What one delivery attempt did for one recipient: delivered, deferred (try again later) or failed (return it
// to the sender), with the enhanced status code and the words a DSN and the log repeat. Every transport answers
// in these terms; this file turns SMTP replies and transport errors into them and never does I/O.

import type { Reply } from "../smtp/reply.ts";
import { replyText } from "../smtp/reply-reader.ts";

export type Outcome = {
  readonly kind: "delivered" | "deferred" | "failed";
  /** RFC 3463 enhanced status code: 2.0.0, 4.4.1, 5.1.1... */
  readonly status: string;
  readonly diagnostic: string;
  /** Who answered: "mx.example.com[192.0.2.1]:25", "maildir:/var/mail/x"... */
  readonly remote?: string;
  /** The remote took over the DSN duty (it offered DSN and got NOTIFY): no "relayed" notice is due from us. */
  readonly dsnPassedOn?: boolean;
};

/** A remote's reply to a recipient: 2xx delivered, 4xx deferred, 5xx failed; the enhanced code its own or the class's. */
export function outcomeOfReply(reply: Reply, remote: string, dsnPassedOn = false): Outcome {
  const kind = reply.code < 400 ? "delivered" : reply.code < 500 ? "deferred" : "failed";
  const status = reply.enhanced ?? `${String(reply.code)[0]}.0.0`;
  return { kind, status, diagnostic: replyText(reply), remote, ...(kind === "delivered" && dsnPassedOn ? { dsnPassedOn } : {}) };
}

export function deferred(status: string, diagnostic: string, remote?: string): Outcome {
  return remote === undefined ? { kind: "deferred", status, diagnostic } : { kind: "deferred", status, diagnostic, remote };
}

export function failed(status: string, diagnostic: string, remote?: string): Outcome {
  return remote === undefined ? { kind: "failed", status, diagnostic } : { kind: "failed", status, diagnostic, remote };
}
