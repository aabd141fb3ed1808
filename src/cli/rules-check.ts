// `petrel rules check FILE...`: type-checks rule files against Petrel's own rules API (strict TypeScript;
// JavaScript files with checkJs), then loads them as the server would and lists their rules per stage. A type
// error or a file the server would refuse makes the exit code 1.

import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { stages } from "../rules/api.ts";
import { loadRuleFiles } from "../rules/rule-files.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The names a rule file may have: TypeScript or JavaScript, run as an ES module. */
const ruleFileName = /\.(m?ts|m?js)$/;

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2024,
  // Rule files are ES modules wherever they sit (Node detects their syntax; no package.json needed).
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  allowImportingTsExtensions: true,
  allowJs: true,
  checkJs: true,
  erasableSyntaxOnly: true,
  verbatimModuleSyntax: true,
  skipLibCheck: true,
  types: ["node"],
  typeRoots: [resolve(root, "node_modules/@types")],
  // A rule file anywhere on disk imports "petrel/rules": this installation's API.
  paths: { "petrel/rules": [resolve(root, "src/rules/api.ts")] },
};

/** The type errors in the files, one "file:line:column: message" each. */
export function typeErrors(files: readonly string[]): string[] {
  const program = ts.createProgram(
    files.map((file) => resolve(file)),
    compilerOptions,
  );
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    if (diagnostic.file === undefined || diagnostic.start === undefined) return text;
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${diagnostic.file.fileName}:${line + 1}:${character + 1}: ${text}`;
  });
}

export async function checkRuleFiles(files: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (files.length === 0) {
    err.write("petrel rules check: name the rule files to check\n");
    return 2;
  }
  const unusable = files.flatMap((file) => {
    const why = !existsSync(file) ? "no such file" : !ruleFileName.test(file) ? "not a rule file (.ts, .mts, .js or .mjs)" : null;
    return why === null ? [] : [`${file}: ${why}`];
  });
  if (unusable.length > 0) {
    for (const problem of unusable) err.write(`petrel rules check: ${problem}\n`);
    return 1;
  }
  const errors = typeErrors(files);
  if (errors.length > 0) {
    for (const error of errors) err.write(`${error}\n`);
    err.write(`petrel rules check: ${errors.length} type error${errors.length === 1 ? "" : "s"}\n`);
    return 1;
  }
  let book: Awaited<ReturnType<typeof loadRuleFiles>>;
  try {
    book = await loadRuleFiles(files);
  } catch (error) {
    err.write(`petrel rules check: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  out.write(`${book.files.join(", ")}: types checked, loaded\n`);
  for (const stage of stages) {
    for (const [index, rule] of book[stage].entries()) {
      out.write(`  ${stage.padEnd(8)} ${index + 1}. ${rule.name}${files.length > 1 ? `  (${rule.file})` : ""}\n`);
    }
  }
  return 0;
}
