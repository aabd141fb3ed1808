// Sends a message body from its spool file: after DATA's 354, dot-stuffed (smtp/dot-stuffing.ts) and ended by
// ".<CRLF>" (RFC 5321 §4.1.1.4); or as BDAT chunks (RFC 3030), bytes as they are, the last one marked LAST.
// The file is read one 64 KiB chunk at a time into a fresh buffer (the socket holds it until it is sent), and
// the next chunk is read only once the socket has room: a slow remote slows the reading, memory stays flat.
// A body the caller already read whole (a small one) is sent from memory in the same chunks.

import type { FileHandle } from "node:fs/promises";
import { DotStuffer } from "../smtp/dot-stuffing.ts";
import type { Reply } from "../smtp/reply.ts";
import type { ReplyChannel } from "./smtp-client-channel.ts";

/** Octets read from the file at a time, and the size of a BDAT chunk. */
const CHUNK = 64 * 1024;

/** Where the body comes from: its file, opened, or its bytes. */
export type BodySource = FileHandle | Buffer;

/**
 * Streams the body after a 354 and writes the end of data. The 354 made the channel count one reply to come;
 * `moreReplies` are the others (LMTP: one per accepted recipient beyond the first), counted from the start
 * too, so a remote that answers before the end (a 552 or 550, then no more reading) is heard at once: sending
 * stops and the result is false; the data cannot be ended then, the caller closes the connection.
 * `stallTimeout`: the longest wait for the socket to drain.
 */
export async function sendData(channel: ReplyChannel, file: BodySource, moreReplies: number, stallTimeout: number): Promise<boolean> {
  const stuffer = new DotStuffer();
  channel.owe(moreReplies);
  for await (const chunk of chunksOf(file)) {
    const encoded = stuffer.encode(chunk);
    // A whole body in memory that fits the socket's buffer goes out with the end of data in one write: what the
    // two writes below send for it, with nothing in between (the first would not ask to wait), one syscall less.
    if (Buffer.isBuffer(file) && chunk.length === file.length && !channel.answered && octets(encoded) < channel.room) {
      channel.write([...encoded, stuffer.end()], 0);
      return true;
    }
    const more = channel.write(encoded, 0);
    if (!more && !channel.answered) await channel.drained("data", stallTimeout);
    if (channel.answered) return false;
  }
  channel.write([stuffer.end()], 0);
  return true;
}

export type ChunkingSettings = {
  /** Replies owed to the LAST chunk: 1 for SMTP, one per accepted recipient for LMTP. */
  readonly finalReplies: number;
  /** With PIPELINING, chunks go out without waiting for each one's reply (RFC 3030 §4.2). */
  readonly pipelined: boolean;
  readonly commandTimeout: number;
  readonly dataTimeout: number;
};

/**
 * Streams the body as BDAT chunks. The result: `refused`, the first chunk reply that was not 2xx (no chunk is
 * sent once it is seen; the transaction wants a RSET), and `final`, the replies to the LAST chunk if it was sent.
 */
export async function sendChunks(channel: ReplyChannel, file: BodySource, settings: ChunkingSettings): Promise<{ refused?: Reply; final: Reply[] }> {
  const { finalReplies, pipelined, commandTimeout, dataTimeout } = settings;
  let refused: Reply | undefined;
  let unread = 0;
  const take = (answer: Reply): void => {
    unread--;
    if (answer.code >= 300 || answer.code < 200) refused ??= answer;
  };
  const readUnread = async (): Promise<void> => {
    while (unread > 0) take(await channel.read("data", commandTimeout));
  };
  let held: Buffer | undefined;
  for await (const chunk of chunksOf(file)) {
    if (held !== undefined) {
      const more = channel.write([Buffer.from(`BDAT ${held.length}\r\n`), held], 1);
      unread++;
      if (!pipelined) await readUnread();
      for (let answer = channel.poll(); answer !== undefined; answer = unread > 0 ? channel.poll() : undefined) take(answer);
      if (refused !== undefined) break;
      if (!more) await channel.drained("data", commandTimeout);
    }
    held = chunk;
  }
  if (refused !== undefined) {
    // The refusal is the recipients' answer even if the connection breaks before the other chunks' replies.
    await readUnread().catch(() => channel.close("the connection broke after a refused BDAT chunk"));
    return { refused, final: [] };
  }
  channel.write([Buffer.from(`BDAT ${held?.length ?? 0} LAST\r\n`), ...(held === undefined ? [] : [held])], finalReplies);
  await readUnread();
  const final: Reply[] = [];
  for (let i = 0; i < finalReplies; i++) final.push(await channel.read("data", dataTimeout));
  return refused === undefined ? { final } : { refused, final };
}

function octets(buffers: readonly Buffer[]): number {
  let count = 0;
  for (const buffer of buffers) count += buffer.length;
  return count;
}

/**
 * The file from where its handle stands (its start, once opened), in chunks of at most CHUNK octets, each in a
 * buffer of its own. Read sequentially, without positions, so a pipe works too. Bytes: in the same chunks.
 */
async function* chunksOf(file: BodySource): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(file)) {
    for (let start = 0; start < file.length; start += CHUNK) yield file.subarray(start, start + CHUNK);
    return;
  }
  for (;;) {
    const buffer = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await file.read(buffer, 0, CHUNK, null);
    if (bytesRead === 0) return;
    yield bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead);
  }
}
