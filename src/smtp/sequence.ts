// The order in which SMTP commands may come (RFC 5321 §4.1.4 and §3.3, RFC 3030 §3-4 for BDAT and
// BINARYMIME, RFC 4954 §4 for AUTH, RFC 3207 §4 for STARTTLS). A pure rule over a snapshot of the session:
// it answers "503 bad sequence" or null (go ahead). It never changes the state (the server does that after
// the command succeeds) and never judges policy (the rules do).
//
// One table, one entry per verb (STYLE §3). HELO/EHLO, RSET, NOOP, QUIT, HELP, VRFY, EXPN and unknown
// verbs are allowed at any time. During a BDAT transfer the commands that would change the transaction
// (MAIL, RCPT, DATA, STARTTLS, AUTH) are refused. A refused BDAT still announced its octets: the server
// must read and discard them (bdat.ts) before it answers, or the session falls out of step.

import type { Verb } from "./command.ts";
import type { MailParameters } from "./parameters.ts";
import { replies } from "./replies.ts";
import type { Reply } from "./reply.ts";

export type SessionSequence = {
  readonly greeted: "none" | "helo" | "ehlo";
  /** MAIL FROM was accepted and the transaction is not over. */
  readonly inMail: boolean;
  /** Recipients accepted in this transaction. */
  readonly recipients: number;
  /** A BDAT chunk was accepted and the LAST one has not been read yet. */
  readonly bdatInProgress: boolean;
  /** BODY= of the current MAIL FROM. */
  readonly body?: MailParameters["body"];
  /** AUTH already succeeded in this session. */
  readonly authenticated?: boolean;
  /** The connection is already encrypted (STARTTLS done, or implicit TLS). */
  readonly tls?: boolean;
};

type Rule = (state: SessionSequence) => Reply | null;

const always: Rule = () => null;

const SEQUENCE: { readonly [V in Verb]: Rule } = {
  HELO: always,
  EHLO: always,
  RSET: always,
  NOOP: always,
  QUIT: always,
  HELP: always,
  VRFY: always,
  EXPN: always,
  UNKNOWN: always,
  MAIL: (s) => (s.greeted === "none" ? replies.greetFirst : s.inMail ? replies.nestedMail : null),
  RCPT: (s) => (!s.inMail ? replies.mailFirst : s.bdatInProgress ? replies.notDuringChunking : null),
  DATA: (s) =>
    !s.inMail
      ? replies.mailFirst
      : s.bdatInProgress
        ? replies.dataAfterBdat
        : s.body === "BINARYMIME"
          ? replies.dataWithBinaryMime
          : s.recipients === 0
            ? replies.recipientFirst
            : null,
  BDAT: (s) => (!s.inMail ? replies.mailFirst : s.recipients === 0 ? replies.recipientFirst : null),
  STARTTLS: (s) =>
    s.greeted !== "ehlo"
      ? replies.ehloFirst
      : s.tls === true
        ? replies.tlsAlreadyActive
        : s.inMail
          ? replies.notInTransaction
          : null,
  AUTH: (s) =>
    s.greeted !== "ehlo"
      ? replies.ehloFirst
      : s.authenticated === true
        ? replies.alreadyAuthenticated
        : s.inMail
          ? replies.notInTransaction
          : null,
};

/** 503 reply if `verb` may not come now, else null. */
export function checkSequence(state: SessionSequence, verb: Verb): Reply | null {
  return SEQUENCE[verb](state);
}
