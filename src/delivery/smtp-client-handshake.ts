// The opening of an outbound session, up to the first MAIL: the greeting (RFC 5321 §3.1), EHLO (HELO when EHLO
// gets a 5xx; LHLO for LMTP, RFC 2033 §4.1), then STARTTLS (RFC 3207) as the TLS mode asks and EHLO again over
// TLS, since what the remote offered in clear is forgotten. AUTH comes after, in smtp-client-auth.ts.
//
// TLS modes: "opportunistic" starts TLS when offered and goes on in clear when STARTTLS itself is refused
// (RFC 3207 allows it; RFC 7435); "required" fails at stage "starttls" when STARTTLS is missing or refused;
// a handshake that fails ends the connection either way (the caller may try again without TLS). Every
// failure at "starttls" is temporary: it is a policy the sender's side may relax or the remote may fix.

import type { ConnectionOptions } from "node:tls";
import type { Reply } from "../smtp/reply.ts";
import { replyText } from "../smtp/reply-reader.ts";
import type { ReplyChannel } from "./smtp-client-channel.ts";
import { type ClientStage, SmtpClientError } from "./smtp-client-error.ts";

export type HandshakeSettings = {
  readonly protocol: "smtp" | "lmtp";
  readonly heloName: string;
  /** How STARTTLS is used ("implicit" and "none": never). */
  readonly startTls: "none" | "opportunistic" | "required";
  readonly tlsOptions: ConnectionOptions;
  readonly greetingTimeout: number;
  readonly commandTimeout: number;
};

export type Handshake = { readonly greeting: Reply; readonly extensions: ReadonlyMap<string, string> };

export async function handshake(channel: ReplyChannel, settings: HandshakeSettings): Promise<Handshake> {
  const greeting = await channel.read("greeting", settings.greetingTimeout);
  if (greeting.code !== 220) {
    channel.write("QUIT\r\n", 1); // RFC 5321 §3.1: a client refused at the greeting says QUIT
    throw refusal("greeting", "the remote refused the session", greeting);
  }
  let extensions = await hello(channel, settings);
  if (settings.startTls !== "none" && channel.tls === undefined) {
    const required = settings.startTls === "required";
    if (!extensions.has("STARTTLS")) {
      if (required) throw new SmtpClientError("starttls", "TLS is required but the remote does not offer STARTTLS", { temporary: true });
    } else {
      channel.write("STARTTLS\r\n", 1);
      const answer = await channel.read("starttls", settings.commandTimeout);
      if (answer.code === 220) {
        await channel.startTls(settings.tlsOptions, settings.commandTimeout);
        extensions = await hello(channel, settings);
      } else if (required || answer.code === 421) {
        throw new SmtpClientError("starttls", `STARTTLS refused: ${replyText(answer)}`, { temporary: true, reply: answer });
      }
    }
  }
  return { greeting, extensions };
}

/** EHLO (or LHLO), falling back to HELO after a 5xx to EHLO: the keywords offered (none after HELO). */
async function hello(channel: ReplyChannel, settings: HandshakeSettings): Promise<ReadonlyMap<string, string>> {
  const verb = settings.protocol === "lmtp" ? "LHLO" : "EHLO";
  channel.write(`${verb} ${settings.heloName}\r\n`, 1);
  const answer = await channel.read("ehlo", settings.commandTimeout);
  if (isPositive(answer)) return keywords(answer);
  if (verb === "EHLO" && answer.code >= 500) {
    channel.write(`HELO ${settings.heloName}\r\n`, 1);
    const helo = await channel.read("ehlo", settings.commandTimeout);
    if (isPositive(helo)) return new Map();
    throw refusal("ehlo", "HELO refused", helo);
  }
  throw refusal("ehlo", `${verb} refused`, answer);
}

/** The EHLO reply's lines after the first: keyword (upper case) → its parameters. */
function keywords(answer: Reply): ReadonlyMap<string, string> {
  const offered = new Map<string, string>();
  for (const line of answer.lines.slice(1)) {
    const [keyword = "", ...parameters] = line.trim().split(/\s+/);
    if (keyword !== "") offered.set(keyword.toUpperCase(), parameters.join(" "));
  }
  return offered;
}

function isPositive(answer: Reply): boolean {
  return answer.code >= 200 && answer.code < 300;
}

/** A refusal of the session: temporary unless the remote said 5xx. */
export function refusal(stage: ClientStage, what: string, answer: Reply): SmtpClientError {
  return new SmtpClientError(stage, `${what}: ${replyText(answer)}`, { temporary: answer.code < 500, reply: answer });
}
