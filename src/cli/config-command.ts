// `petrel config check [--config FILE]`: validates the configuration and the plain files it names that the server
// reads as data (smtp.aliases with its :include: files, smtp.mailboxes, auth.sender_logins, the relay passwords
// of delivery.credentials, delivery.tls_ca_file), and prints the
// effective configuration as TOML (exit 0), or prints every problem found (exit 1). Usage mistakes exit 2. It must
// never start anything, bind a port, open a log or run code: rule files are checked by `petrel rules check`.

import type { Writable } from "node:stream";
import { formatConfig } from "../config/format.ts";
import { ConfigError } from "../config/issues.ts";
import { readDataFile } from "../config/data-file.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { readSenderLogins } from "../accounts/sender-logins.ts";
import { readAliases } from "../rules/local-recipients.ts";
import { domainForms } from "../smtp/domain-forms.ts";
import { checkCertificates } from "../server/tls-certificate.ts";
import { addressesFromFile } from "../rules/objects/list-file.ts";

const usage = "usage: petrel config check [--config FILE]\n";

/** `argv` is what follows `petrel config`; `--config FILE`, `--config=FILE` and `-c FILE` may come anywhere. */
export async function runConfigCommand(argv: string[], out: Writable, err: Writable): Promise<number> {
  const words: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config" || arg === "-c") {
      file = argv[++i];
      if (file === undefined) {
        err.write(`petrel config: ${arg} needs a file name\n${usage}`);
        return 2;
      }
    } else if (arg.startsWith("--config=")) file = arg.slice("--config=".length);
    else words.push(arg);
  }
  if (words.length !== 1 || words[0] !== "check") {
    const help = words.length === 1 && (words[0] === "help" || words[0] === "--help");
    const complaint = words.length === 0 ? "a subcommand is needed" : `unknown arguments "${words.join(" ")}"`;
    (help ? out : err).write(help ? usage : `petrel config: ${complaint}\n${usage}`);
    return help ? 0 : 2;
  }
  try {
    const { config, source } = await loadConfig(file);
    const problems = await dataFileProblems(config);
    if (problems.length > 0) {
      for (const problem of problems) err.write(`petrel config: ${problem}\n`);
      return 1;
    }
    out.write(`# Effective configuration, from ${source}\n\n${formatConfig(config)}`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const count = error.problems.length;
    err.write(`${error.message}\npetrel config: ${count} ${count === 1 ? "problem" : "problems"} in ${error.file}\n`);
    return 1;
  }
}

/** A file the server reads whole (a password, authorities), named by the key that names it. */
async function readable(path: string, key: string): Promise<void> {
  const text = await readDataFile(path, `${key}: ${path}`);
  if (text.trim() === "") throw new Error(`${key}: ${path} is empty`);
}

/** What reading the configuration's data files as the server does reports, one problem per file. */
async function dataFileProblems(config: Config): Promise<string[]> {
  const { delivery } = config;
  const reads = [
    ...(config.smtp.aliases === undefined ? [] : [() => readAliases(config.smtp.aliases!, domainForms(config.smtp.local_domains))]),
    ...(config.smtp.mailboxes === undefined ? [] : [() => addressesFromFile(config.smtp.mailboxes!)]),
    () => readSenderLogins(config.auth.sender_logins),
    () => checkCertificates(config),
    ...Object.entries(delivery.credentials).map(([name, login]) => () => readable(login.password_file, `delivery.credentials.${name}.password_file`)),
    ...(delivery.tls_ca_file === undefined ? [] : [() => readable(delivery.tls_ca_file!, "delivery.tls_ca_file")]),
  ];
  const problems: string[] = [];
  for (const read of reads) {
    try {
      await read();
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  return problems;
}
