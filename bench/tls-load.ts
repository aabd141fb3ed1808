// The STARTTLS load: smtp-source cannot speak TLS, so this drives it with Node's TLS client. `sessions`
// clients in parallel each open a connection per message: greeting, EHLO, STARTTLS, the TLS handshake, EHLO
// again, MAIL, RCPT, DATA with a body of `bodyBytes`, QUIT. It measures wall time only; it never checks
// certificates (both servers use the same self-signed one) and talks to 127.0.0.1 only.

import { once } from "node:events";
import { connect } from "node:tls";
import { SmtpConversation } from "./smtp-conversation.ts";

export type TlsLoad = { messages: number; sessions: number; bodyBytes: number };

function body(bytes: number): Buffer {
  const line = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
  const text = `Subject: tls bench\r\n\r\n${line.repeat(Math.ceil(bytes / line.length))}`;
  return Buffer.from(`${text}.\r\n`, "latin1");
}

async function oneMessage(port: number, data: Buffer): Promise<void> {
  const { conversation: plain, greeting } = await SmtpConversation.open(port);
  if (greeting.code !== 220) throw new Error(`greeting ${greeting.code}`);
  await plain.command("EHLO client.bench.test", 250);
  await plain.command("STARTTLS", 220);
  plain.socket.removeAllListeners("data");
  const secure = connect({ socket: plain.socket, rejectUnauthorized: false, servername: "bench.test" });
  await once(secure, "secureConnect");
  const smtp = SmtpConversation.over(secure);
  try {
    await smtp.command("EHLO client.bench.test", 250);
    await smtp.command("MAIL FROM:<sender@bench.test>", 250);
    await smtp.command("RCPT TO:<recipient@bench.test>", 250);
    await smtp.command("DATA", 354);
    await smtp.write(data);
    const reply = await smtp.reply();
    if (reply.code !== 250) throw new Error(`end of DATA answered ${reply.code}`);
  } finally {
    await smtp.quit();
  }
}

/** Sends `messages` messages over STARTTLS; resolves with the seconds it took. */
export async function runTlsLoad(port: number, load: TlsLoad): Promise<number> {
  const data = body(load.bodyBytes);
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next < load.messages) {
      next += 1;
      await oneMessage(port, data);
    }
  };
  await Promise.all(Array.from({ length: load.sessions }, client));
  return (performance.now() - started) / 1000;
}
