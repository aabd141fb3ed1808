// A raw SMTP client for tests: writes exact bytes and reads whole replies (multi-line aware), so tests
// can send malformed input, pipelined batches and binary BDAT chunks that real clients never would.

import { connect, type Socket } from "node:net";

export type ServerReply = { code: number; lines: string[]; text: string };

export class RawClient {
  readonly socket: Socket;
  private buffer = "";
  private readonly replies: ServerReply[] = [];
  private waiting: ((reply: ServerReply | null) => void) | null = null;
  private ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      this.buffer += text;
      this.parse();
    });
    socket.on("close", () => {
      this.ended = true;
      this.waiting?.(null);
      this.waiting = null;
    });
    socket.on("error", () => {});
  }

  static open(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => resolve(new RawClient(socket)));
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
