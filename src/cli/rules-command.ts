// `petrel rules check FILE... | test FILE ... | reload`: the administrator's tools for rule files. check
// type-checks and loads them (rules-check.ts); test runs one transaction through them (rules-trial.ts); reload
// loads the configured rule files here first, and only if they load signals the running server (SIGHUP) to
// take them: a broken file is reported at once and never reaches the server.

import type { Config } from "../config/schema.ts";
import { loadRuleFiles } from "../rules/rule-files.ts";
import { runningPid } from "../server/pid-file.ts";
import { checkRuleFiles } from "./rules-check.ts";
import { runRulesTrial } from "./rules-trial.ts";

const USAGE = "usage: petrel rules check FILE... | rules test FILE --from A --to B [...] | rules reload\n";

export async function runRulesCommand(argv: string[], config: Config, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [action, ...rest] = argv;
  switch (action) {
    case "check":
      return checkRuleFiles(rest, out, err);
    case "test":
      return runRulesTrial(rest, config, out, err);
    case "reload":
      return reload(config, out, err);
    default:
      err.write(USAGE);
      return 2;
  }
}

async function reload(config: Config, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  try {
    await loadRuleFiles(config.rules.files);
  } catch (error) {
    err.write(`petrel rules reload: not reloaded: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const pid = await runningPid(config.server.pid_file);
  if (pid === null) {
    err.write(`petrel rules reload: no running server (no live pid in ${config.server.pid_file})\n`);
    return 1;
  }
  process.kill(pid, "SIGHUP");
  out.write(`rules load; the server (pid ${pid}) is reloading: sessions in flight keep the rules they started with\n`);
  return 0;
}
