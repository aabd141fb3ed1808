// The large-message memory check: one message of a given size, generated on the fly and streamed with
// DATA over a raw socket (never held whole in the benchmark's memory), while the server's processes are
// sampled. The growth that counts is that of the process that grew most: the worker that took the message.
// It must never send anything but one well-formed message to loopback.

import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { readResidentSet, sampleDuring } from "./rss-sampler.ts";
import { SmtpConversation } from "./smtp-conversation.ts";
import type { MailServer } from "./throughput.ts";

const LINE_CHARS = 76; // base64 text lines: never start with "." so no dot-stuffing is needed
const LINES_PER_CHUNK = 840; // ~64 KiB per write

export type BigMessageResult = { bytes: number; seconds: number; growth: number; pid: number };

/** A block of CRLF-terminated base64 lines, reused for every write of the body. */
function bodyChunk(): Buffer {
  const text = randomBytes((LINE_CHARS / 4) * 3 * LINES_PER_CHUNK).toString("base64");
  const lines: string[] = [];
  for (let at = 0; at < text.length; at += LINE_CHARS) lines.push(text.slice(at, at + LINE_CHARS));
  return Buffer.from(`${lines.join("\r\n")}\r\n`, "latin1");
}

/** Sends one message of about `bytes` bytes; resolves once it is answered 250. */
async function sendMessage(port: number, bytes: number): Promise<number> {
  const { conversation, greeting } = await SmtpConversation.open(port);
  try {
    if (greeting.code !== 220) throw new Error(`the server greeted with ${greeting.code}`);
    await conversation.command("EHLO client.bench.test", 250);
    await conversation.command(`MAIL FROM:<sender@bench.test> SIZE=${bytes}`, 250);
    await conversation.command("RCPT TO:<big@bench.test>", 250);
    await conversation.command("DATA", 354);
    const header = Buffer.from(
      "From: <sender@bench.test>\r\nTo: <big@bench.test>\r\nSubject: large message\r\n" +
        `Message-ID: <${Date.now()}.big@client.bench.test>\r\nDate: ${new Date().toUTCString()}\r\n\r\n`,
      "latin1",
    );
    await conversation.write(header);
    const chunk = bodyChunk();
    let sent = header.length;
    while (sent + chunk.length <= bytes) {
      await conversation.write(chunk);
      sent += chunk.length;
    }
    const lineBytes = LINE_CHARS + 2;
    const tail = chunk.subarray(0, Math.ceil((bytes - sent) / lineBytes) * lineBytes);
    await conversation.write(tail);
    sent += tail.length;
    conversation.socket.write(".\r\n");
    const reply = await conversation.reply();
    if (reply.code !== 250) throw new Error(`the end of DATA was answered ${reply.code} ${reply.lines.join(" ")}`);
    return sent;
  } finally {
    await conversation.quit();
  }
}

/** Streams one `bytes`-sized message to the server and reports the largest RSS growth of one of its processes. */
export async function measureBigMessage(server: MailServer & { mainPid: number }, bytes: number): Promise<BigMessageResult> {
  const before = await server.countQueued();
  const baseline = await readResidentSet(server.mainPid);
  const started = performance.now();
  const { result: sent, peaks } = await sampleDuring([server.mainPid], () => sendMessage(server.port, bytes));
  const seconds = (performance.now() - started) / 1000;
  if ((await server.countQueued()) !== before + 1) throw new Error(`${server.label} answered 250 to the large message but did not queue it`);
  let largest = { growth: 0, pid: 0 };
  for (const [pid, peak] of peaks[0]!.peakByProcess) {
    const growth = peak - (baseline.get(pid) ?? 0);
    if (growth > largest.growth) largest = { growth, pid };
  }
  return { bytes: sent, seconds, ...largest };
}
