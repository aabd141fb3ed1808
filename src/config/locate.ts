// The key locator: finds the line on which each key of a TOML document is written, so that a refused value can be
// reported as "petrel.toml:14: listener[1].port: ...". smol-toml gives positions only for syntax errors, hence this
// small scanner over table headers, arrays of tables, dotted keys, inline tables and arrays (indexes counted).
// It runs only on text smol-toml has already accepted, so it never judges syntax, and it must never throw:
// a key it cannot place is reported on its nearest placed parent, or without a line.

/** One step of a key path: a key name, or an index into an array (of tables). */
export type KeySegment = string | number;

/** The spelling used in messages and as the locator's map key: `listener[1].port`, `log.modules."a.b"`. */
export function keyText(path: readonly PropertyKey[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else {
      const name = String(segment);
      const shown = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      text += text === "" ? shown : `.${shown}`;
    }
  }
  return text;
}

/** Maps the key text of every key, table and array element written in `text` to the line (1-based) it starts on. */
export function locateKeys(text: string): Map<string, number> {
  const found = new Map<string, number>();
  const arrayTables = new Map<string, number>();
  let pos = 0;
  let line = 1;

  const record = (path: readonly KeySegment[], at: number) => {
    const key = keyText(path);
    if (!found.has(key)) found.set(key, at);
  };
  const advance = (count = 1) => {
    for (let i = 0; i < count && pos < text.length; i++) {
      if (text[pos] === "\n") line++;
      pos++;
    }
  };
  const skipBlank = (acrossLines: boolean) => {
    while (pos < text.length) {
      const c = text[pos];
      if (c === " " || c === "\t" || c === "\r" || (acrossLines && c === "\n")) advance();
      else if (c === "#") while (pos < text.length && text[pos] !== "\n") advance();
      else return;
    }
  };
  const skipString = (): string => {
    const quote = text[pos]!;
    const triple = text.startsWith(quote.repeat(3), pos);
    const close = triple ? quote.repeat(3) : quote;
    advance(close.length);
    let raw = "";
    while (pos < text.length && !text.startsWith(close, pos)) {
      if (quote === '"' && text[pos] === "\\") {
        raw += text[pos];
        advance();
      }
      raw += text[pos];
      advance();
    }
    advance(close.length);
    // A multi-line string may end with up to two extra quotes ("""a"""""): they belong to the string.
    while (triple && text[pos] === quote) advance();
    if (quote === "'") return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return raw;
    }
  };
  const readKey = (): KeySegment[] => {
    const segments: KeySegment[] = [];
    for (;;) {
      skipBlank(false);
      const c = text[pos];
      if (c === '"' || c === "'") segments.push(skipString());
      else {
        const bare = /^[A-Za-z0-9_-]+/.exec(text.slice(pos, pos + 256));
        if (bare === null) return segments;
        segments.push(bare[0]);
        advance(bare[0].length);
      }
      skipBlank(false);
      if (text[pos] !== ".") return segments;
      advance();
    }
  };
  const readValue = (path: readonly KeySegment[]) => {
    skipBlank(false);
    const c = text[pos];
    if (c === '"' || c === "'") skipString();
    else if (c === "[") {
      advance();
      for (let index = 0; ; index++) {
        skipBlank(true);
        if (pos >= text.length || text[pos] === "]") break;
        const before = pos;
        record([...path, index], line);
        readValue([...path, index]);
        skipBlank(true);
        if (text[pos] === ",") advance();
        else if (pos === before) break;
      }
      advance();
    } else if (c === "{") {
      advance();
      for (;;) {
        skipBlank(true);
        if (pos >= text.length || text[pos] === "}") break;
        const before = pos;
        readKeyValue(path);
        skipBlank(true);
        if (text[pos] === ",") advance();
        else if (pos === before) break;
      }
      advance();
    } else {
      while (pos < text.length && !",]}\n#".includes(text[pos]!)) advance();
    }
  };
  const readKeyValue = (table: readonly KeySegment[]) => {
    const at = line;
    const segments = readKey();
    for (let i = 1; i <= segments.length; i++) record([...table, ...segments.slice(0, i)], at);
    skipBlank(false);
    if (segments.length === 0 || text[pos] !== "=") {
      while (pos < text.length && text[pos] !== "\n") advance();
      return;
    }
    advance();
    readValue([...table, ...segments]);
  };
  const readHeader = (): KeySegment[] => {
    const at = line;
    const arrayTable = text.startsWith("[[", pos);
    advance(arrayTable ? 2 : 1);
    const segments = readKey();
    while (pos < text.length && text[pos] !== "\n" && text[pos] !== "#") advance();
    const resolved: KeySegment[] = [];
    segments.forEach((segment, i) => {
      resolved.push(segment);
      const key = keyText(resolved);
      const count = arrayTables.get(key);
      if (arrayTable && i === segments.length - 1) {
        arrayTables.set(key, (count ?? 0) + 1);
        record(resolved, at);
        resolved.push(count ?? 0);
      } else if (count !== undefined) resolved.push(count - 1);
    });
    record(resolved, at);
    return resolved;
  };

  let table: KeySegment[] = [];
  while (pos < text.length) {
    skipBlank(true);
    if (pos >= text.length) break;
    const before = pos;
    if (text[pos] === "[") table = readHeader();
    else readKeyValue(table);
    if (pos === before) advance();
  }
  return found;
}

/** The line of `path`, or of its nearest parent that was written down (a missing key: its table's header). */
export function lineOf(located: ReadonlyMap<string, number>, path: readonly PropertyKey[]): number | undefined {
  for (let length = path.length; length > 0; length--) {
    const at = located.get(keyText(path.slice(0, length)));
    if (at !== undefined) return at;
  }
  return undefined;
}
