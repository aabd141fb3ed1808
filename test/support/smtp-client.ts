// A raw SMTP client for tests: writes exact bytes and reads whole replies (multi-line aware), so tests
// can send malformed input, pipelined batches and binary BDAT chunks that real clients never would.

import { connect, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";

export type ServerReply = { code: number; lines: string[]; text: string };

/** The queue id in a "250 2.0.0 queued as ID" reply; throws if the reply is anything else. */
export function queueIdOf(reply: ServerReply | null): string {
  const id = /^250 2\.0\.0 queued as (\S+)$/.exec(reply?.text ?? "")?.[1];
  if (id === undefined) throw new Error(`not a queued reply: ${reply?.text ?? "connection closed"}`);
  return id;
}

export class RawClient {
  /** The connection; after startTls() the TLS socket layered on the original one. */
  socket: Socket;
  private buffer = "";
  private readonly replies: ServerReply[] = [];
  private waiting: ((reply: ServerReply | null) => void) | null = null;
  private ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  private readonly onData = (text: string): void => {
    this.buffer += text;
    this.parse();
  };

  private readonly onClose = (): void => {
    this.ended = true;
    this.waiting?.(null);
    this.waiting = null;
  };

  private listen(socket: Socket): void {
    socket.setEncoding("latin1");
    socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("error", () => {});
  }

  /**
   * Starts TLS on the connection (after the server's 220 to STARTTLS) and reads replies through it from
   * then on. Bytes the server sent in clear after that 220 are dropped, as RFC 3207 §4.2 asks.
   */
  startTls(options: ConnectionOptions = {}): Promise<void> {
    const plain = this.socket;
    plain.off("data", this.onData);
    plain.off("close", this.onClose);
    this.buffer = "";
    return new Promise((resolve, reject) => {
      const secure = connectTls({ rejectUnauthorized: false, ...options, socket: plain }, () => resolve());
      secure.once("error", reject);
      this.socket = secure;
      this.listen(secure);
    });
  }

  /** `localAddress`: the client's own address (another 127.0.0.x, to look like another client). */
  static open(port: number, host = "127.0.0.1", localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, localAddress }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  private parse(): void {
    for (;;) {
      let lines: string[] = [];
      let offset = 0;
      let complete = false;
      for (;;) {
        const end = this.buffer.indexOf("\r\n", offset);
        if (end < 0) break;
        const line = this.buffer.slice(offset, end);
        lines.push(line);
        offset = end + 2;
        if (line[3] !== "-") {
          complete = true;
          break;
        }
      }
      if (!complete) return;
      this.buffer = this.buffer.slice(offset);
      const reply = { code: Number(lines[0]!.slice(0, 3)), lines, text: lines.join("\n") };
      lines = [];
      if (this.waiting) {
        const waiting = this.waiting;
        this.waiting = null;
        waiting(reply);
      } else this.replies.push(reply);
    }
  }

  /** The next reply, or null when the server closed the connection first. */
  read(): Promise<ServerReply | null> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Connects, reads the 220 greeting and, with `ehlo`, sends EHLO and reads its reply; throws on any other reply. */
  static async greeted(port: number, options: { host?: string; ehlo?: string } = {}): Promise<RawClient> {
    const client = await RawClient.open(port, options.host);
    client.expect(await client.read(), 220);
    if (options.ehlo !== undefined) client.expect(await client.command(`EHLO ${options.ehlo}`), 250);
    return client;
  }

  /** Sends several command lines in one write (a pipelined batch) and returns their replies in order. */
  async batch(lines: readonly string[]): Promise<Array<ServerReply | null>> {
    this.write(lines.map((line) => `${line}\r\n`).join(""));
    const replies: Array<ServerReply | null> = [];
    for (let i = 0; i < lines.length; i++) replies.push(await this.read());
    return replies;
  }

  /**
   * One whole transaction: MAIL, each RCPT and DATA must succeed, then `content` (already dot-stuffed, ending
   * with CRLF) and the final dot are sent; returns the reply to the message.
   */
  async sendMail(sender: string, recipients: readonly string[], content: string | Buffer): Promise<ServerReply | null> {
    this.expect(await this.command(`MAIL FROM:<${sender}>`), 250);
    for (const recipient of recipients) this.expect(await this.command(`RCPT TO:<${recipient}>`), 250);
    this.expect(await this.command("DATA"), 354);
    this.write(content);
    this.write(".\r\n");
    return this.read();
  }

  private expect(reply: ServerReply | null, code: number): void {
    if (reply?.code !== code) throw new Error(`expected ${code}, got ${reply === null ? "a closed connection" : reply.text}`);
  }

  /** Sends one command line and returns its reply. */
  async command(line: string): Promise<ServerReply | null> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  closed(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.socket.once("close", () => resolve()));
  }

  close(): void {
    this.socket.destroy();
  }
}
