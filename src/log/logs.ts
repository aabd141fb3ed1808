// The logs of one Petrel process: the system log (start, stop, reload, errors; with a child per module at its own
// level) and the mail log (one line per session event and per accepted message), each to its own destination.
// Lines are JSON by default: {"level":"info","time":"<ISO 8601>","pid":..,"worker":..,"log":"mail",...,"msg":..};
// "pretty" renders them with pino-pretty in this process, synchronously per line (no transport threads): every
// worker process writes its own lines. Logs observe; this file must never decide anything about mail.

import { isatty } from "node:tty";
import pino from "pino";
import { prettyFactory } from "pino-pretty";
import type { LogConfig, LogTargetConfig } from "../config/schema.ts";
import { type LogSink, openFileSink, openStreamSink } from "./sinks.ts";
import { openSyslog, type SyslogSender, syslogPriority } from "./syslog.ts";

export type Logger = pino.Logger;

export type Logs = {
  system: Logger;
  mail: Logger;
  /** A child of the system (or mail) log with {module: name}, at log.modules[name] or else log.level. */
  module(name: string, log?: LogName): Logger;
  /** Reopens log files by name: call it on SIGHUP, after logrotate has moved them away. */
  reopen(): void;
  /** Resolves once every line logged so far has been handed to the operating system (or to `logger`). */
  flush(): Promise<void>;
  /** Flushes and lets go of files and `logger` processes; for shutdown, or for the old Logs after a reload. */
  close(): Promise<void>;
};

export type LogName = "system" | "mail";

/** Files, terminals and syslog sockets, opened once per Logs even when both logs point to the same one. */
function openedPlaces() {
  const sinks = new Map<string, LogSink>();
  const syslogs = new Map<string, SyslogSender>();
  return {
    sink(target: LogTargetConfig, key: string): LogSink {
      const place = target.destination === "file" ? `file:${target.path}` : target.destination;
      let sink = sinks.get(place);
      if (sink === undefined) {
        if (target.destination === "stdout") sink = openStreamSink(1);
        else if (target.destination === "stderr") sink = openStreamSink(2);
        else if (target.path === undefined) throw new Error(`${key}.path: required when destination = "file"`);
        else {
          try {
            sink = openFileSink(target.path);
          } catch (error) {
            throw new Error(`${key}.path: cannot open ${target.path}: ${(error as Error).message}`);
          }
        }
        sinks.set(place, sink);
      }
      return sink;
    },
    syslog(socket: string): SyslogSender {
      let sender = syslogs.get(socket);
      if (sender === undefined) {
        sender = openSyslog(socket);
        syslogs.set(socket, sender);
      }
      return sender;
    },
    all: () => [...sinks.values(), ...syslogs.values()],
    files: () => [...sinks.values()],
  };
}

function wantsPretty(format: LogConfig["format"], target: LogTargetConfig): boolean {
  if (format !== "auto") return format === "pretty";
  if (target.destination === "stdout") return isatty(1);
  if (target.destination === "stderr") return isatty(2);
  return false;
}

function prettyLines(colorize: boolean, singleLine: boolean): (line: string) => string {
  return prettyFactory({
    colorize,
    singleLine,
    translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l",
    messageFormat: "{log}{if module}/{module}{end}: {msg}",
    ignore: "log,module,worker",
  });
}

/** The stream pino writes one log's lines to: a sink, or a syslog sender told each line's level. */
function streamFor(
  name: LogName,
  log: LogConfig,
  places: ReturnType<typeof openedPlaces>,
): pino.DestinationStream {
  const target = log[name];
  const pretty = wantsPretty(log.format, target);
  if (target.destination === "syslog") {
    const sender = places.syslog(target.socket);
    const render = pretty ? prettyLines(false, true) : (line: string) => line;
    const stream = {
      [pino.symbols.needsMetadataGsym]: true as const,
      lastLevel: 30,
      write(line: string) {
        sender.send(syslogPriority(target.facility, stream.lastLevel), render(line));
      },
    };
    return stream as unknown as pino.DestinationStream;
  }
  const sink = places.sink(target, `log.${name}`);
  if (!pretty) return sink;
  const colorize = target.destination !== "file" && isatty(target.destination === "stdout" ? 1 : 2);
  const render = prettyLines(colorize, false);
  return { write: (line: string) => sink.write(render(line)) };
}

/** `worker`: an SMTP worker's number; `role`: another process of the server ("delivery"); both go into every line. */
export function createLogs(log: LogConfig, options: { worker?: number; role?: string }): Logs {
  const places = openedPlaces();
  const logger = (name: LogName): Logger =>
    pino(
      {
        level: log.level,
        base: { pid: process.pid, ...(options.worker === undefined ? {} : { worker: options.worker }), ...(options.role === undefined ? {} : { role: options.role }), log: name },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      streamFor(name, log, places),
    );
  let system: Logger;
  let mail: Logger;
  try {
    system = logger("system");
    mail = logger("mail");
  } catch (error) {
    for (const place of places.all()) void place.close();
    throw error;
  }
  const modules = new Map<string, Logger>();
  return {
    system,
    mail,
    module(name, which = "system") {
      let child = modules.get(`${which}:${name}`);
      if (child === undefined) {
        const parent = which === "system" ? system : mail;
        child = parent.child({ module: name }, { level: log.modules[name] ?? log.level });
        modules.set(`${which}:${name}`, child);
      }
      return child;
    },
    reopen() {
      for (const sink of places.files()) sink.reopen();
    },
    async flush() {
      await Promise.all(places.all().map((place) => place.flush()));
    },
    async close() {
      await Promise.all(places.all().map((place) => place.close()));
    },
  };
}

/**
 * A process's logs across reloads: while the [log] table stays the same they are kept (and reopened, for
 * logrotate); when it changes, new ones are made for the new configuration, and take over only once it applies.
 */
export class ConfiguredLogs {
  readonly #options: { worker?: number; role?: string };
  #current: Logs | null = null;
  #table = "";

  constructor(options: { worker?: number; role?: string }) {
    this.#options = options;
  }

  /** The logs of the configuration that applies now; null before the first one. */
  get current(): Logs | null {
    return this.#current;
  }

  /** The logs for `log`: the current ones, reopened, if it has not changed; else new ones (see adopt). */
  prepare(log: LogConfig): Logs {
    if (this.#current !== null && JSON.stringify(log) === this.#table) {
      this.#current.reopen();
      return this.#current;
    }
    return createLogs(log, this.#options);
  }

  /**
   * Makes `logs` (from prepare, for `log`) the current ones once their configuration applies. Returns the ones they
   * replace, which the caller closes when nothing that started with them writes any more; null if none.
   */
  adopt(logs: Logs, log: LogConfig): Logs | null {
    if (logs === this.#current) return null;
    const replaced = this.#current;
    this.#current = logs;
    this.#table = JSON.stringify(log);
    return replaced;
  }

  /** Lets go of `logs` from prepare when their configuration did not apply (the current ones stay). */
  discard(logs: Logs): void {
    if (logs !== this.#current) void logs.close();
  }
}
