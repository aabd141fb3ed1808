// The one error the outbound SMTP/LMTP client throws: the stage of the conversation it happened in, the
// remote's reply when there was one, and whether trying again later may help. Refusals of a transaction's
// sender, recipients or message are not errors: they come back as replies in the TransactionResult.

import type { Reply } from "../smtp/reply.ts";

export type ClientStage = "connect" | "greeting" | "ehlo" | "starttls" | "auth" | "mail" | "rcpt" | "data" | "quit";

export class SmtpClientError extends Error {
  override readonly name = "SmtpClientError";
  readonly stage: ClientStage;
  readonly reply?: Reply;
  /** 4xx, network, timeout, TLS policy: true; a 5xx refusal of the greeting, EHLO or AUTH: false. */
  readonly temporary: boolean;

  constructor(stage: ClientStage, message: string, details: { temporary: boolean; reply?: Reply }) {
    super(message);
    this.stage = stage;
    this.temporary = details.temporary;
    if (details.reply !== undefined) this.reply = details.reply;
  }
}
