// Reads the session scripts of OpenSMTPD's old `smtpscript` regression tool (the language is described in
// ../shared/testdata/smtp/README.md) into test cases of typed statements; smtpscript-runner.ts plays them
// against a server. Our own code, written after reading the original's grammar; it never runs anything.
//
// Faithful to the original where the scripts depend on it: a raw line break inside a quoted string is
// dropped (so `"RCPT TO: <gilles⏎@localhost>"` is one line), a backslash escapes only the quote and a line
// break, `random` takes one block whose statements are the choices, test-case options come in the order
// name, no-autoconnect, expect fail, skip, and an unnamed test case is called `<file:line>`. Not supported
// (no script uses them): `include`, macros (`$name`, `name = value`) and proc parameters (`%name`).

export type ReplyClass = "any" | "ok" | "helo" | "tempfail" | "permfail";

export type Statement = { readonly line: number } & (
  | { readonly op: "block"; readonly body: readonly Statement[] }
  | { readonly op: "repeat"; readonly count: number; readonly body: Statement }
  | { readonly op: "random"; readonly choices: readonly Statement[] }
  | { readonly op: "call"; readonly proc: string }
  | { readonly op: "noop" | "disconnect" | "starttls" | "expect-disconnect" }
  | { readonly op: "sleep"; readonly ms: number }
  | { readonly op: "fail"; readonly reason: string }
  | { readonly op: "connect"; readonly host: string; readonly port: number }
  | { readonly op: "write"; readonly text: string }
  | { readonly op: "expect-smtp"; readonly accept: ReplyClass }
);

export type TestCase = {
  readonly name: string;
  readonly line: number;
  readonly autoconnect: boolean;
  readonly expectFail: boolean;
  readonly skip: boolean;
  readonly body: readonly Statement[];
};

export type Script = {
  readonly source: string;
  readonly procs: ReadonlyMap<string, readonly Statement[]>;
  readonly cases: readonly TestCase[];
};

// --- tokens ---------------------------------------------------------------------------------------------

type Token = { kind: "word" | "string" | "number" | "{" | "}" | "nl" | "eof"; text: string; line: number };

/** Characters that may continue a bare word: letters, digits and punctuation other than these. */
const WORD_STOP = new Set("(){}<>!=#,");
const NUMBER_END = /[\s),/}=]/;

function isWordStart(c: string): boolean {
  return /[A-Za-z0-9:_]/.test(c);
}

function isWordPart(c: string): boolean {
  return /[A-Za-z0-9]/.test(c) || (/[!-/:-@[-`{-~]/.test(c) && !WORD_STOP.has(c));
}

export function tokenize(text: string, source: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`${source}:${line}: ${why}`);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === "\\" && text[i + 1] === "\n") {
      i += 2;
      line++;
    } else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "\n") {
      tokens.push({ kind: "nl", text: c, line });
      line++;
      i++;
    } else if (c === "{" || c === "}") {
      tokens.push({ kind: c, text: c, line });
      i++;
    } else if (c === '"' || c === "'") {
      const start = line;
      let value = "";
      for (i++; ; i++) {
        if (i >= text.length) fail("end of file inside a quoted string");
        const ch = text[i]!;
        if (ch === c) break;
        if (ch === "\n") line++; // a raw line break is not part of the string
        else if (ch === "\\" && (text[i + 1] === c || text[i + 1] === "\n")) {
          if (text[++i] === "\n") line++;
          else value += c;
        } else value += ch;
      }
      i++;
      tokens.push({ kind: "string", text: value, line: start });
    } else if (isWordStart(c)) {
      let end = i + 1;
      while (end < text.length && isWordPart(text[end]!)) end++;
      const word = text.slice(i, end);
      const digits = /^\d+/.exec(word)?.[0];
      if (digits !== undefined && (i + digits.length === text.length || NUMBER_END.test(text[i + digits.length]!))) {
        tokens.push({ kind: "number", text: digits, line });
        i += digits.length;
      } else {
        tokens.push({ kind: "word", text: word, line });
        i = end;
      }
    } else fail(`unexpected character ${JSON.stringify(c)}`);
  }
  tokens.push({ kind: "eof", text: "", line });
  return tokens;
}

// --- grammar --------------------------------------------------------------------------------------------

const KEYWORDS = new Set([
  "call", "connect", "disconnect", "expect", "fail", "helo", "name", "no-autoconnect", "noop", "ok", "permfail",
  "port", "proc", "random", "repeat", "skip", "sleep", "smtp", "starttls", "tempfail", "test-case", "write",
  "writeln",
]);

const SLEEP_UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000 };

class Parser {
  private readonly tokens: Token[];
  private readonly source: string;
  private readonly procs = new Map<string, readonly Statement[]>();
  private position = 0;

  constructor(text: string, source: string, procs: ReadonlyMap<string, readonly Statement[]> = new Map()) {
    this.tokens = tokenize(text, source);
    this.source = source;
    for (const [name, body] of procs) this.procs.set(name, body);
  }

  script(): Script {
    const cases: TestCase[] = [];
    for (;;) {
      const token = this.next();
      if (token.kind === "eof") break;
      if (token.kind === "nl") continue;
      if (this.isKeyword(token, "proc")) this.proc();
      else if (this.isKeyword(token, "test-case")) cases.push(this.testCase(token.line, cases));
      else this.fail(token, "expected proc or test-case");
    }
    return { source: this.source, procs: this.procs, cases };
  }

  /** A statement list without braces (used for replacement bodies written in tests). */
  statements(): Statement[] {
    const body = this.statementList();
    this.expect("eof");
    return body;
  }

  private proc(): void {
    const name = this.name();
    if (this.procs.has(name.text)) this.fail(name, `proc "${name.text}" already exists`);
    const block = this.block();
    this.procs.set(name.text, block.body);
  }

  private testCase(line: number, earlier: readonly TestCase[]): TestCase {
    let name = `<${this.source}:${line}>`;
    if (this.peekKeyword("name")) {
      this.next();
      const token = this.expect("string");
      if (earlier.some((other) => other.name === token.text)) this.fail(token, `test-case "${token.text}" already exists`);
      name = token.text;
    }
    const autoconnect = !this.accept("no-autoconnect");
    let expectFail = false;
    if (this.peekKeyword("expect")) {
      this.next();
      this.keyword("fail");
      expectFail = true;
    }
    const skip = this.accept("skip");
    return { name, line, autoconnect, expectFail, skip, body: this.block().body };
  }

  private block(): Extract<Statement, { op: "block" }> {
    const open = this.expect("{");
    const body = this.statementList();
    this.expect("}");
    return { op: "block", line: open.line, body };
  }

  private statementList(): Statement[] {
    const body: Statement[] = [];
    for (;;) {
      while (this.peek().kind === "nl") this.next();
      const kind = this.peek().kind;
      if (kind === "}" || kind === "eof") return body;
      body.push(this.statement());
      const after = this.peek().kind;
      if (after !== "nl" && after !== "}" && after !== "eof") this.fail(this.peek(), "expected the end of the line");
    }
  }

  private statement(): Statement {
    if (this.peek().kind === "{") return this.block();
    const token = this.next();
    const line = token.line;
    if (token.kind !== "word" || !KEYWORDS.has(token.text)) return this.fail(token, "expected a statement");
    switch (token.text) {
      case "repeat":
        return { op: "repeat", line, count: Number(this.expect("number").text), body: this.statement() };
      case "random":
        return { op: "random", line, choices: this.block().body };
      case "call": {
        const name = this.name();
        if (!this.procs.has(name.text)) this.fail(name, `call to undefined proc "${name.text}"`);
        return { op: "call", line, proc: name.text };
      }
      case "noop":
      case "disconnect":
      case "starttls":
        return { op: token.text, line };
      case "sleep": {
        const ms = Number(this.expect("number").text);
        const unit = this.peek();
        if (unit.kind === "word" && Object.hasOwn(SLEEP_UNITS, unit.text)) {
          this.next();
          return { op: "sleep", line, ms: ms * SLEEP_UNITS[unit.text]! };
        }
        return { op: "sleep", line, ms };
      }
      case "fail":
        return { op: "fail", line, reason: this.expect("string").text };
      case "connect": {
        const host = this.expect("string").text;
        const port = this.accept("port") ? Number(this.expect("number").text) : 25;
        return { op: "connect", line, host, port };
      }
      case "write":
        return { op: "write", line, text: this.expect("string").text };
      case "writeln":
        return { op: "write", line, text: `${this.expect("string").text}\r\n` };
      case "expect": {
        if (this.accept("disconnect")) return { op: "expect-disconnect", line };
        this.keyword("smtp");
        for (const accept of ["ok", "helo", "tempfail", "permfail"] as const) {
          if (this.accept(accept)) return { op: "expect-smtp", line, accept };
        }
        return { op: "expect-smtp", line, accept: "any" };
      }
      default:
        return this.fail(token, `"${token.text}" does not start a statement`);
    }
  }

  /** A proc name: a quoted string or a bare word that is not a keyword. */
  private name(): Token {
    const token = this.next();
    if (token.kind === "string" || (token.kind === "word" && !KEYWORDS.has(token.text))) return token;
    return this.fail(token, "expected a name");
  }

  private peek(): Token {
    return this.tokens[this.position]!;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== "eof") this.position++;
    return token;
  }

  private isKeyword(token: Token, word: string): boolean {
    return token.kind === "word" && token.text === word;
  }

  private peekKeyword(word: string): boolean {
    return this.isKeyword(this.peek(), word);
  }

  private accept(word: string): boolean {
    if (!this.peekKeyword(word)) return false;
    this.next();
    return true;
  }

  private keyword(word: string): void {
    if (!this.accept(word)) this.fail(this.peek(), `expected "${word}"`);
  }

  private expect(kind: Token["kind"]): Token {
    const token = this.next();
    if (token.kind !== kind) this.fail(token, `expected ${kind}`);
    return token;
  }

  private fail(token: Token, why: string): never {
    const found = token.kind === "nl" ? "end of line" : token.kind === "eof" ? "end of file" : JSON.stringify(token.text);
    throw new SyntaxError(`${this.source}:${token.line}: ${why}, found ${found}`);
  }
}

export function parseScript(text: string, source: string): Script {
  return new Parser(text, source).script();
}

/** Parses statements (no braces) that may call the procs of `script`: a replacement body for one of its cases. */
export function parseBody(text: string, script: Script, source: string): Statement[] {
  return new Parser(text, source, script.procs).statements();
}
