/**
 * Where Python code is text rather than code: string literals (single, double,
 * triple-quoted, any prefix) and comments. The harness's small rewrites
 * (apiChanges.ts, standardImports.ts) change calls and names only outside them.
 * A scanner, not a parser: an f-string's expressions count as text. Pure.
 */

/** For each character of `code`, whether it is inside a string literal or a comment. */
export function pythonTextMask(code: string): boolean[] {
  const mask = new Array<boolean>(code.length).fill(false);
  let i = 0;
  while (i < code.length) {
    const c = code[i];
    if (c === '#') {
      const end = code.indexOf('\n', i);
      const stop = end === -1 ? code.length : end;
      mask.fill(true, i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      const quote = code.startsWith(c.repeat(3), i) ? c.repeat(3) : c;
      let j = i + quote.length;
      while (j < code.length && !code.startsWith(quote, j) && !(quote.length === 1 && code[j] === '\n')) {
        j += code[j] === '\\' ? 2 : 1;
      }
      const stop = Math.min(code.length, j + quote.length);
      mask.fill(true, i, stop);
      i = stop;
    } else {
      i++;
    }
  }
  return mask;
}
