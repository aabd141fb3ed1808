// Log lines to the system logger (syslog) through a Unix socket, normally /dev/log.
//
// Node cannot send Unix datagrams (node:dgram knows only UDP), and /dev/log is a datagram socket under rsyslog,
// syslog-ng and journald alike. So each Petrel process starts one util-linux `logger` per socket and feeds it one
// line per record on its standard input, prefixed with the record's priority ("<22>" = mail.info), which
// `logger --prio-prefix` turns into one syslog message each, tagged "petrel[<our pid>]". `logger` reports socket
// problems on its standard error, which we pass on to ours; if it dies, the next line starts a new one (at most once
// a second; lines in between are counted and the count reported). This file never formats a record.

import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { LogTargetConfig } from "../config/schema.ts";

type Facility = LogTargetConfig["facility"];

const facilityCodes: Readonly<Record<Facility, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10,
  ftp: 11, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** pino's level numbers onto syslog severities: trace and debug → debug(7) ... fatal → crit(2). */
export function syslogSeverity(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

export function syslogPriority(facility: Facility, pinoLevel: number): number {
  return facilityCodes[facility] * 8 + syslogSeverity(pinoLevel);
}

/** One `logger` process writing to one socket, shared by every log of the process that points there. */
export type SyslogSender = {
  send(priority: number, message: string): void;
  flush(): Promise<void>;
  close(): Promise<void>;
};

type LoggerProcess = ChildProcessByStdio<Writable, null, Readable>;

const respawnInterval = 1000;

export function openSyslog(socket: string): SyslogSender {
  let child: LoggerProcess | undefined;
  let lastSpawn = Number.NEGATIVE_INFINITY;
  let dropped = 0;
  let closed = false;

  const complain = (text: string) => process.stderr.write(`petrel: syslog ${socket}: ${text}\n`);

  const start = (): LoggerProcess | undefined => {
    if (Date.now() - lastSpawn < respawnInterval) return undefined;
    lastSpawn = Date.now();
    const args = ["--socket-errors=on", "--socket", socket, "--tag", "petrel", `--id=${process.pid}`, "--prio-prefix"];
    const started: LoggerProcess = spawn("logger", [...args, "--size", "65536"], {
      stdio: ["pipe", "ignore", "pipe"],
    });
    started.on("error", (error) => complain(`cannot run logger: ${error.message}`));
    started.stdin.on("error", () => {}); // EPIPE once logger has died: its standard error said why
    createInterface({ input: started.stderr }).on("line", complain);
    started.on("exit", () => {
      if (child === started) child = undefined;
    });
    started.unref();
    for (const stream of [started.stdin, started.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
    return started;
  };

  return {
    send(priority, message) {
      if (closed) return;
      child ??= start();
      if (child === undefined || !child.stdin.writable) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        const warning = priority - (priority % 8) + 4;
        child.stdin.write(`<${warning}>petrel dropped ${dropped} log lines while logger was not running\n`);
        dropped = 0;
      }
      const line = message.replace(/\r?\n(?!$)/g, " ");
      child.stdin.write(`<${priority}>${line.endsWith("\n") ? line : `${line}\n`}`);
    },
    flush() {
      const stdin = child?.stdin;
      if (stdin === undefined || !stdin.writable) return Promise.resolve();
      return new Promise((resolve) => stdin.write("", () => resolve()));
    },
    async close() {
      closed = true;
      const last = child;
      if (last === undefined || last.pid === undefined || last.exitCode !== null || last.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        last.once("exit", () => resolve());
        last.once("error", () => resolve());
        last.stdin.end();
      });
    },
  };
}
