// One step of a session's AUTH exchange (RFC 4954): decodes the client's line (base64, "=" for empty, "*" to
// cancel), passes it to the SASL mechanism (accounts/sasl.ts) and answers: 334 with the next challenge, 235
// and the user, or a refusal; failures are delayed and counted towards the address's lockout. It decides
// nothing about which mechanisms a listener offers (commands.ts does). A successful exchange goes through the
// auth stage's rules before the 235.

import { setTimeout as sleep } from "node:timers/promises";
import type { SaslExchange, SaslMechanism } from "../accounts/sasl.ts";
import { StageContext } from "../rules/contexts.ts";
import { refused, withRules } from "./rule-stages.ts";
import { replies } from "../smtp/replies.ts";
import type { Session } from "./session.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Answers one response (null: AUTH came without an initial one); true while the exchange goes on. */
export async function answerSasl(session: Session, exchange: SaslExchange, mechanism: SaslMechanism, encoded: string | null): Promise<boolean> {
  if (encoded === "*") {
    session.reply(replies.authCancelled);
    return false;
  }
  if (encoded !== null && encoded !== "=" && !BASE64.test(encoded)) {
    session.refuse(replies.authCannotDecode);
    return false;
  }
  const response = encoded === null ? null : Buffer.from(encoded === "=" ? "" : encoded, "base64");
  const step = await exchange.step(response);
  const { failures } = session.context.accounts;
  switch (step.kind) {
    case "challenge":
      session.reply({ code: 334, lines: [step.data.toString("base64")] });
      return true;
    case "success": {
      failures.succeeded(session.clientAddress);
      const user = step.user;
      await withRules(
        session,
        "auth",
        (setup) => Object.assign(new StageContext("auth", setup), { auth: { user, mechanism } }),
        (decision) => {
          if (refused(session, decision)) {
            session.note("info", { event: "auth-refused", user }, "authentication refused by a rule");
            return;
          }
          session.user = user;
          session.note("info", { event: "auth", user }, "authenticated");
          session.reply(replies.authenticated);
        },
      );
      return false;
    }
    case "failure": {
      const delay = failures.failed(session.clientAddress);
      session.note("info", { event: "auth-failed", user: step.user }, "authentication failed");
      await sleep(delay);
      if (failures.isLockedOut(session.clientAddress)) session.close(replies.authLockedOut);
      else session.refuse(replies.authInvalid);
      return false;
    }
    case "malformed":
      session.refuse(replies.authCannotDecode);
      return false;
  }
}
