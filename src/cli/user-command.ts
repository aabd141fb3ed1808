// `petrel user add NAME | remove NAME | list`: manages the users file (auth.users). The password of `add` is
// read from standard input (one line), never from the command line, where other users could see it.

import type { Readable, Writable } from "node:stream";
import { makeCredentials } from "../accounts/credentials.ts";
import { readUsers, validUserName, writeUsers } from "../accounts/user-file.ts";

async function readPassword(input: Readable): Promise<string> {
  let text = "";
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes("\n")) break;
  }
  return text.split(/\r?\n/)[0] ?? "";
}

export async function runUserCommand(argv: string[], usersFile: string, io: { input: Readable; out: Writable; err: Writable }): Promise<number> {
  const [action, name] = argv;
  const users = new Map(await readUsers(usersFile));
  if (action === "list" && name === undefined) {
    for (const user of [...users.keys()].sort()) io.out.write(`${user}\n`);
    return 0;
  }
  if ((action === "add" || action === "remove") && name !== undefined && argv.length === 2) {
    if (!validUserName(name)) {
      io.err.write(`petrel user: "${name}" is not a valid user name (no colon, space or control character)\n`);
      return 2;
    }
    let done: string;
    if (action === "remove") {
      if (!users.delete(name)) {
        io.err.write(`petrel user: no user "${name}" in ${usersFile}\n`);
        return 1;
      }
      done = "removed";
    } else {
      const password = await readPassword(io.input);
      if (password.length < 8) {
        io.err.write("petrel user: the password (one line on standard input) must have at least 8 characters\n");
        return 2;
      }
      done = users.has(name) ? "changed the password of" : "added";
      users.set(name, await makeCredentials(password));
    }
    await writeUsers(usersFile, users);
    io.out.write(`${done} ${name} (${usersFile}; a running server reads it at SIGHUP)\n`);
    return 0;
  }
  io.err.write("usage: petrel user add NAME (password on standard input) | remove NAME | list\n");
  return 2;
}
