// Reads a configuration file (or the embedded default), validates it against schema.ts, makes relative paths
// absolute against the file's folder, and hands back a deep-frozen Config. Every problem found is reported in one
// ConfigError. This file runs once at start and on reload; it must never be called per session or per message,
// and never let a half-valid configuration through.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse, TomlError } from "smol-toml";
import { embeddedDefaultSource, embeddedDefaultText } from "./default.ts";
import { ConfigError, issueProblems, syntaxProblem } from "./issues.ts";
import { locateKeys } from "./locate.ts";
import { type Config, configSchema } from "./schema.ts";
import { mapValueKinds } from "./shape.ts";

export { ConfigError } from "./issues.ts";

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

function parseAgainst(text: string, file: string, baseDir: string): Config {
  const source = text.replace(/^\uFEFF/, "");
  let document: unknown;
  try {
    document = parse(source);
  } catch (error) {
    if (error instanceof TomlError) throw new ConfigError([syntaxProblem(error, file)]);
    throw error;
  }
  const result = configSchema.safeParse(document, { reportInput: true });
  if (!result.success) {
    const [first, ...rest] = issueProblems(result.error.issues, file, locateKeys(source));
    if (first === undefined) throw new ConfigError([{ file, message: result.error.message }]);
    throw new ConfigError([first, ...rest]);
  }
  const resolved = mapValueKinds(result.data, (kind, value) =>
    kind === "path" && typeof value === "string" ? path.resolve(baseDir, value) : value,
  );
  return deepFreeze(resolved as Config);
}

/**
 * Validates the text of a configuration file. `file` names it in errors, and its folder is the base of
 * relative paths. Throws ConfigError listing every problem.
 */
export function parseConfig(text: string, file: string): Config {
  return parseAgainst(text, file, path.dirname(path.resolve(file)));
}

/**
 * Reads and validates `file`, or the embedded default (relative paths against the working directory) when no
 * file is given. `source` is the file's absolute path or "(embedded default)".
 */
export async function loadConfig(file?: string): Promise<{ config: Config; source: string }> {
  if (file === undefined) {
    return {
      config: parseAgainst(embeddedDefaultText, embeddedDefaultSource, process.cwd()),
      source: embeddedDefaultSource,
    };
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ file, message: `cannot read the configuration file: ${reason}` }]);
  }
  return { config: parseConfig(text, file), source: path.resolve(file) };
}
