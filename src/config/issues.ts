// What went wrong with a configuration file, worded for the administrator who must fix it: every problem names the
// file, the line, the key and what was expected ("petrel.toml:14: listener[1].prot: unknown key (expected one
// of: ...)"), and ConfigError carries all of them at once. This file words problems; it never decides validity.

import type { TomlError } from "smol-toml";
import type { z } from "zod";
import { keyText, lineOf } from "./locate.ts";
import type { NotAParams } from "./schema.ts";
import { expectedKeys, expectsInteger } from "./shape.ts";

export type ConfigProblem = { file: string; line?: number; key?: string; message: string };

/** "petrel.toml:7: smtp.max_message_size: ..." — the parts that are known, in that order. */
export function problemText(problem: ConfigProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return problem.key === undefined ? `${where}: ${problem.message}` : `${where}: ${problem.key}: ${problem.message}`;
}

/** A refused configuration. `file`, `line` and `key` are those of the first problem; `problems` holds them all. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly file: string;
  readonly line?: number;
  readonly key?: string;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly [ConfigProblem, ...ConfigProblem[]]) {
    super(problems.map(problemText).join("\n"));
    const [first] = problems;
    this.file = first.file;
    if (first.line !== undefined) this.line = first.line;
    if (first.key !== undefined) this.key = first.key;
    this.problems = problems;
  }
}

/** A value as the administrator wrote it: strings quoted, tables and arrays named. */
export function showValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === undefined) return "nothing";
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (Array.isArray(value)) return "an array";
  return "a table";
}

const typeNames: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a table",
  record: "a table",
  array: "an array",
};

function plural(count: number | bigint, one: string, many: string): string {
  return `${count} ${Number(count) === 1 ? one : many}`;
}

/** The wording of one zod issue, without file, line or key. */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type": {
      const integer = issue.expected === "number" && expectsInteger(issue.path);
      const expected = integer ? "an integer" : (typeNames[issue.expected] ?? issue.expected);
      return issue.input === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${showValue(issue.input)}`;
    }
    case "invalid_value":
      return `${showValue(issue.input)} is not allowed (expected one of: ${issue.values.map(String).join(", ")})`;
    case "too_small":
      if (issue.origin === "array") return `expected at least ${plural(issue.minimum, "entry", "entries")}`;
      if (issue.origin === "string") return "must not be empty";
      return `${showValue(issue.input)} is too small (expected ${issue.inclusive ? "at least" : "more than"} ${issue.minimum})`;
    case "too_big":
      if (issue.origin === "array") return `expected at most ${plural(issue.maximum, "entry", "entries")}`;
      return `${showValue(issue.input)} is too large (expected ${issue.inclusive ? "at most" : "less than"} ${issue.maximum})`;
    case "custom": {
      const params = issue.params as Partial<NotAParams> | undefined;
      if (params?.notA !== undefined) return `${showValue(issue.input)} is not ${params.notA} (expected ${params.expected})`;
      return issue.message;
    }
    default:
      return issue.message;
  }
}

/** Every zod issue as a problem with its line, in the order of the file. */
export function issueProblems(
  issues: readonly z.core.$ZodIssue[],
  file: string,
  located: ReadonlyMap<string, number>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: readonly PropertyKey[], message: string) => {
    const line = lineOf(located, path);
    problems.push({ file, ...(line === undefined ? {} : { line }), ...(path.length ? { key: keyText(path) } : {}), message });
  };
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const expected = expectedKeys(issue.path);
      const hint = expected.length > 0 ? ` (expected one of: ${expected.join(", ")})` : "";
      for (const key of issue.keys) add([...issue.path, key], `unknown key${hint}`);
    } else add(issue.path, issueMessage(issue));
  }
  const order = (problem: ConfigProblem) => problem.line ?? Number.POSITIVE_INFINITY;
  return problems.sort((a, b) => order(a) - order(b));
}

/** A TOML syntax error, with smol-toml's position and without its code excerpt. */
export function syntaxProblem(error: TomlError, file: string): ConfigProblem {
  const reason = (error.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
  return { file, line: error.line, message: `TOML syntax error at column ${error.column}: ${reason}` };
}
