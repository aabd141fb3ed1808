// The primary process of `petrel serve`: loads and validates the configuration, recovers the spool before
// anything is accepted, starts one SMTP worker per core and the delivery process (delivery-worker.ts),
// restarts any of them that dies, and owns the signals:
// SIGTERM/SIGINT drain the workers and exit 0, SIGHUP reloads the configuration (a bad file keeps the old
// one) and reopens log files. It never speaks SMTP itself.

import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { removePidFile, runningPid, writePidFile } from "./pid-file.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { createLogs, type Logs } from "../log/logs.ts";
import { Spool } from "../queue/spool.ts";
import type { DeadWorker } from "../queue/worker-leftovers.ts";
import { DELIVERY_SLOT, type ToPrimary, type ToWorker } from "./control-messages.ts";
import { ensureCertificate } from "./tls-certificate.ts";
import { ensureSecret } from "../accounts/secret.ts";
import { handOver, identity } from "./privileges.ts";

const RESTART_DELAY = 1000;

const workerEntry = fileURLToPath(new URL("./worker.ts", import.meta.url));
const deliveryEntry = fileURLToPath(new URL("./delivery-worker.ts", import.meta.url));

/** How log lines name a child: an SMTP worker by its number, the delivery process by its role. */
function who(number: number): { worker: number } | { role: "delivery" } {
  return number === DELIVERY_SLOT ? { role: "delivery" } : { worker: number };
}

function workerCount(config: Config): number {
  return config.server.workers === "auto" ? availableParallelism() : config.server.workers;
}

function describeListeners(config: Config): string[] {
  return config.listener.map((listener) => {
    const host = listener.address.includes(":") ? `[${listener.address}]` : listener.address;
    return `${host}:${listener.port} (${listener.role})`;
  });
}

class Primary {
  private config: Config;
  private readonly configPath: string | undefined;
  private logs: Logs;
  private readonly workers = new Map<number, Worker>();
  /** When each child was last forked: what a dead SMTP worker left is told by the ids it made since. */
  private readonly startedAt = new Map<number, number>();
  private draining = false;
  /** Per worker: who waits for its answer to the configuration last sent. */
  private readonly answers = new Map<number, (message: ToPrimary) => void>();

  private readonly spool: Spool;

  constructor(config: Config, configPath: string | undefined, logs: Logs, spool: Spool) {
    this.config = config;
    this.configPath = configPath;
    this.logs = logs;
    this.spool = spool;
  }

  private send(message: ToWorker): void {
    for (const worker of this.workers.values()) if (worker.isConnected()) worker.send(message);
  }

  /** Sends a configuration to one worker; resolves when it applied it, rejects with the worker's reason. */
  private configure(number: number, worker: Worker, config: Config): Promise<void> {
    return new Promise((resolve, reject) => {
      this.answers.set(number, (message) => {
        this.answers.delete(number);
        if (message.type === "failed") reject(new Error(message.error));
        else resolve();
      });
      worker.send({ type: "config", config } satisfies ToWorker);
    });
  }

  /** Forks worker `number` (or the delivery process); resolves when it runs, rejects if it cannot start. */
  fork(number: number): Promise<void> {
    // setupPrimary() applies to the forks after it: each child gets its own entry point.
    cluster.setupPrimary({
      exec: number === DELIVERY_SLOT ? deliveryEntry : workerEntry,
      execArgv: [...process.execArgv, "--expose-gc"], // see read-buffers.ts
    });
    this.startedAt.set(number, Date.now());
    const worker = cluster.fork({ PETREL_WORKER: String(number) });
    this.workers.set(number, worker);
    worker.on("message", (message: ToPrimary) => this.answers.get(number)?.(message));
    worker.on("exit", (code, signal) => {
      this.workers.delete(number);
      this.answers.get(number)?.({ type: "failed", error: `worker ${number} exited (${signal ?? code})` });
      if (this.draining) return;
      this.logs.system.error({ ...who(number), code, signal }, "worker died; restarting it");
      const dead = { number, startedAt: this.startedAt.get(number) ?? 0, diedAt: Date.now() };
      setTimeout(async () => {
        if (this.draining) return;
        if (number !== DELIVERY_SLOT) await this.removeLeftovers(dead);
        if (this.draining) return;
        this.fork(number).then(
          () => this.logs.system.info(who(number), "worker restarted"),
          () => {}, // fork() logged why; its exit schedules the next attempt
        );
      }, RESTART_DELAY).unref();
    });
    return new Promise<void>((resolve) => worker.once("online", resolve)).then(() =>
      this.configure(number, worker, this.config).catch((error: unknown) => {
        this.logs.system.error({ ...who(number), error: String(error) }, "worker could not apply the configuration");
        throw error;
      }),
    );
  }

  /** Removes the bodies a dead SMTP worker was receiving (worker-leftovers.ts); a failure is logged, not fatal. */
  private async removeLeftovers(dead: DeadWorker): Promise<void> {
    try {
      const removed = await this.spool.removeWorkerLeftovers(dead);
      if (removed.length > 0) this.logs.system.info({ ...who(dead.number), removed }, "removed what the dead worker was receiving");
    } catch (error) {
      this.logs.system.error({ ...who(dead.number), error: String(error) }, "could not remove what the dead worker left (the next start will)");
    }
  }

  async start(): Promise<void> {
    const count = workerCount(this.config);
    await Promise.all([...Array.from({ length: count }, (_, number) => this.fork(number)), this.fork(DELIVERY_SLOT)]);
    this.logs.system.info(
      { workers: count, listeners: describeListeners(this.config), config: this.configPath ?? "(embedded default)" },
      "petrel started",
    );
    process.on("SIGTERM", () => void this.stop("SIGTERM"));
    process.on("SIGINT", () => void this.stop("SIGINT"));
    process.on("SIGHUP", () => void this.reload());
  }

  async reload(): Promise<void> {
    this.logs.system.info({ config: this.configPath ?? "(embedded default)" }, "reloading configuration");
    let next: Config;
    try {
      next = (await loadConfig(this.configPath)).config;
    } catch (error) {
      this.logs.system.error({ error: String(error) }, "configuration not reloaded; keeping the current one");
      return;
    }
    if (workerCount(next) !== workerCount(this.config)) {
      this.logs.system.warn("server.workers changes take effect after a restart");
    }
    if (JSON.stringify(next.log) === JSON.stringify(this.config.log)) this.logs.reopen();
    else {
      const previous = this.logs;
      this.logs = createLogs(next.log, {});
      await previous.close();
    }
    const previous = this.config;
    this.config = next;
    const children = [...this.workers];
    const results = await Promise.allSettled(children.map(([number, worker]) => this.configure(number, worker, next)));
    const failures = results.flatMap((result) => (result.status === "rejected" ? [String(result.reason)] : []));
    const smtpTook = results.some((result, index) => result.status === "fulfilled" && children[index]![0] !== DELIVERY_SLOT);
    if (failures.length > 0 && !smtpTook) {
      // No SMTP worker took it (a rule file that does not load...): one restarted later gets the configuration
      // the others still run, not the refused one.
      this.config = previous;
      this.logs.system.error({ failures }, "configuration not reloaded: no SMTP worker could apply it; keeping the current one");
    } else if (failures.length > 0) {
      this.logs.system.error({ failures }, "configuration reloaded with errors: some workers could not apply it");
    } else {
      this.logs.system.info({ listeners: describeListeners(next) }, "configuration reloaded");
    }
  }

  async stop(reason: string, exitCode = 0): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const timeout = this.config.server.shutdown_timeout;
    this.logs.system.info({ reason, timeout }, "draining sessions");
    const exits = [...this.workers.values()].map((worker) => new Promise((resolve) => worker.once("exit", resolve)));
    this.send({ type: "drain", timeout });
    const force = setTimeout(() => {
      for (const worker of this.workers.values()) worker.process.kill("SIGKILL");
    }, timeout + 5000);
    await Promise.all(exits);
    clearTimeout(force);
    // The exit code is decided: if what follows is left waiting with nothing else to run (seen on a loaded machine,
    // where Node then exited 13 for the unsettled start instead of 1), exit with it anyway.
    setTimeout(() => process.exit(exitCode), 5000);
    await removePidFile(this.config.server.pid_file);
    this.logs.system.info("petrel stopped");
    await this.logs.flush();
    process.exit(exitCode);
  }
}

/** `petrel serve`: returns when the server runs; the process then lives until a signal stops it. */
export async function serve(configPath: string | undefined): Promise<void> {
  const { config } = await loadConfig(configPath);
  const logs = createLogs(config.log, {});
  const spool = await Spool.open(config.spool.dir);
  const recovered = await spool.recover();
  logs.system.info({ spool: config.spool.dir, ...recovered }, "spool recovered");
  await ensureCertificate(config, logs.system);
  await ensureSecret(config.auth.secret);
  const owner = identity(config);
  if (owner !== null) await handOver(config, owner);

  const running = await runningPid(config.server.pid_file);
  if (running !== null) throw new Error(`petrel already runs with this configuration (pid ${running}, ${config.server.pid_file})`);
  const primary = new Primary(config, configPath, logs, spool);
  try {
    await primary.start();
    await writePidFile(config.server.pid_file);
  } catch (error) {
    logs.system.fatal({ error: String(error) }, "petrel could not start");
    await primary.stop("startup failure", 1);
  }
}
