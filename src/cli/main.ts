#!/usr/bin/env node
// The `petrel` command line: one table of subcommands (serve, config, queue, user, rules), each a small module.
// It parses only the global `--config FILE` option and hands the rest of the arguments over.

import process from "node:process";
import { serve } from "../server/primary.ts";
import { runConfigCommand } from "./config-command.ts";
import { runQueueCommand } from "./queue-command.ts";
import { runUserCommand } from "./user-command.ts";
import { runRulesCommand } from "./rules-command.ts";
import { loadConfig, ConfigError } from "../config/load.ts";

const USAGE = `usage: petrel <command> [--config FILE]
  serve                  run the server (default configuration when no --config)
  config check           validate the configuration and print the effective one
  queue list [FILTER...] [--json]
                         the messages in the spool, one line each (like mailq)
  queue shape [FILTER...] [--by sender] [--json]
                         pending mail by domain and age (like qshape)
  queue show ID [--json] one message's envelope, delivery state and headers
  queue hold|release|flush|requeue|bounce|remove ID... | --all | FILTER...
                         act on messages while the server runs (petrel queue --help)
  user add NAME          add a user for SMTP AUTH (password on standard input)
  user remove NAME       remove a user
  user list              list the users
  rules check FILE...    type-check rule files, load them and list their rules
  rules test FILE --from A --to B [--to C] [--client IP] [--helo NAME] [--user NAME] [--message FILE.eml]
                         run one transaction through the rules and print each verdict and reply
  rules reload           load the configured rule files, then have the running server take them
`;

/** Removes `--config FILE` (or `--config=FILE`) from argv and returns it. */
function takeConfigPath(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config" || arg === "-c") {
      const path = argv[i + 1];
      argv.splice(i, 2);
      return path;
    }
    if (arg.startsWith("--config=")) {
      argv.splice(i, 1);
      return arg.slice("--config=".length);
    }
  }
  return undefined;
}

const commands: Record<string, (argv: string[], configPath: string | undefined) => Promise<number | undefined>> = {
  async serve(_argv, configPath) {
    await serve(configPath);
    return undefined;
  },
  config(argv, configPath) {
    return runConfigCommand(configPath ? [...argv, "--config", configPath] : argv, process.stdout, process.stderr);
  },
  async queue(argv, configPath) {
    const { config } = await loadConfig(configPath);
    return runQueueCommand(argv, config.spool.dir, process.stdout);
  },
  async rules(argv, configPath) {
    const { config } = await loadConfig(configPath);
    const code = await runRulesCommand(argv, config, process.stdout, process.stderr);
    // Rule code may leave timers or sockets behind (a lookup cut off at its deadline): the report is written,
    // the command ends.
    process.stdout.write("", () => process.exit(code));
    return code;
  },
  async user(argv, configPath) {
    const { config } = await loadConfig(configPath);
    return runUserCommand(argv, config.auth.users, { input: process.stdin, out: process.stdout, err: process.stderr });
  },
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const configPath = takeConfigPath(argv);
  const name = argv.shift() ?? "";
  const command = commands[name];
  if (!command) {
    process.stderr.write(name === "" || name === "help" || name === "--help" ? USAGE : `petrel: unknown command "${name}"\n${USAGE}`);
    process.exitCode = name === "" || name === "help" || name === "--help" ? 0 : 2;
    return;
  }
  try {
    const code = await command(argv, configPath);
    if (code !== undefined) process.exitCode = code;
  } catch (error) {
    // A wrong configuration, or a start-up step that failed (a port taken, no openssl, an unreadable file):
    // the message says what; a stack trace would only hide it.
    if (!(error instanceof ConfigError) && !(error instanceof Error && "code" in error)) throw error;
    process.stderr.write(`petrel: ${error.message}\n`);
    process.exitCode = 1;
  }
}

await main();
