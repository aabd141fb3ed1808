// SMTP AUTH for the outbound client (RFC 4954): PLAIN (RFC 4616) with an initial response, or LOGIN when the
// remote offers only that. Credentials are never sent in clear over the network: without TLS they go only to
// a loopback address or a Unix socket, and otherwise nothing is sent at all. That refusal, a missing AUTH and
// a 4xx are temporary (the mail waits while the administrator fixes the hop, as Postfix's default soft bounce
// does); a 5xx from the remote (535 bad credentials) is not. No message ever holds the password.

import { isIP } from "node:net";
import { replyText } from "../smtp/reply-reader.ts";
import type { ReplyChannel } from "./smtp-client-channel.ts";
import { SmtpClientError } from "./smtp-client-error.ts";
import { refusal } from "./smtp-client-handshake.ts";

export type Credentials = { readonly user: string; readonly password: string };

/** Where the session goes: a loopback address or a Unix socket may hear credentials without TLS. */
export type AuthPeer = { readonly host?: string; readonly path?: string };

export async function authenticate(
  channel: ReplyChannel,
  credentials: Credentials,
  extensions: ReadonlyMap<string, string>,
  peer: AuthPeer,
  timeout: number,
): Promise<void> {
  if (channel.tls === undefined && !isLocal(peer)) {
    throw temporary("credentials not sent: the session is not encrypted (use TLS to this host)");
  }
  const offered = extensions.get("AUTH");
  if (offered === undefined) throw temporary("the remote does not offer AUTH");
  const mechanisms = new Set(offered.toUpperCase().split(" "));
  const steps = mechanisms.has("PLAIN")
    ? [`AUTH PLAIN ${base64(`\0${credentials.user}\0${credentials.password}`)}`]
    : mechanisms.has("LOGIN")
      ? ["AUTH LOGIN", base64(credentials.user), base64(credentials.password)]
      : undefined;
  if (steps === undefined) throw temporary(`no AUTH mechanism in common (the remote offers ${offered}; we speak PLAIN and LOGIN)`);
  for (const [i, step] of steps.entries()) {
    channel.write(`${step}\r\n`, 1);
    const answer = await channel.read("auth", timeout);
    if (i < steps.length - 1 && answer.code === 334) continue;
    if (i === steps.length - 1 && answer.code === 235) return;
    if (answer.code === 334) {
      channel.write("*\r\n", 1); // cancels an exchange we cannot follow (RFC 4954 §4)
      throw temporary(`unexpected AUTH challenge: ${replyText(answer)}`);
    }
    throw refusal("auth", "authentication failed", answer);
  }
}

function isLocal(peer: AuthPeer): boolean {
  if (peer.path !== undefined) return true;
  const host = (peer.host ?? "").replace(/^::ffff:/i, "");
  return (isIP(host) === 4 && host.startsWith("127.")) || host === "::1";
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

function temporary(message: string): SmtpClientError {
  return new SmtpClientError("auth", message, { temporary: true });
}
