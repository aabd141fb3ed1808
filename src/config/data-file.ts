// Reading a plain text file that the configuration or a rule names (aliases and their includes, mailboxes, sender
// logins, list files, relay passwords): one place that says the usual failures the way an administrator reads
// them, with the file's name.

import { readFile } from "node:fs/promises";

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory, not a file",
};

/** The file's text (UTF-8). A failure says `${named}: ${why}`: `named` is the path, or what names it and the path. */
export async function readDataFile(path: string, named: string = path): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const said = (code !== undefined && READ_ERRORS[code]) || (error as Error).message;
    throw new Error(`${named}: ${said}`, { cause: error });
  }
}
