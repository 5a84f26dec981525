/**
 * Model-written markdown goes into cells that JupyterLab renders at once. Its
 * sanitizer keeps `<img src="https://…">` and markdown images, so a model (or a
 * prompt injected through the data it read) could make the browser fetch any
 * URL the moment a cell renders. Before the text reaches a cell, every `<` and
 * every image `![` of the model's text is turned into visible text unless
 * `marked` (the parser JupyterLab renders with) reads it as part of code.
 *
 * Code is decided by `marked`'s own lexer, on the whole cell as it will be
 * rendered (the cell builders' own wording around the model's text changes
 * what is code: text after `**Answer.** ` does not start a line). Each `<`,
 * `"` and `![` of the model's text is first replaced by a character of its own that
 * means nothing to markdown, the cell is lexed, and the characters found in
 * code tokens go back as they were; every other one is escaped (`"` because
 * JupyterLab puts math back into the HTML unescaped, so `$…"…$` in a URL could
 * add attributes to its link). The result is
 * lexed again: if it still holds an image or HTML the cell builders did not
 * write, every `<` and `![` of the model's text is escaped, code or not.
 *
 * Model text writes no math either. JupyterLab takes math out before `marked`
 * runs and puts it back into the HTML unescaped, so math that lands in a link
 * (a bare URL GFM autolinks, a link's destination) puts its raw text into the
 * `href`: `http://evil.example/$ \`"\` onmouseover=x $` gave an `<a>` with an
 * `onmouseover` attribute, and so did `$\"…$` after a URL. So every math
 * delimiter of the model's text outside code is broken as markdown shows it the
 * same (`$` as `\$`, `\\(` as `\\&#40;`, `\begin{` as `\begin&#123;`), and
 * code holding one is not trusted: the cost is that LaTeX a model writes shows as
 * text; a dollar amount now reads as written instead of opening math.
 */
// `marked` is an ES module: the Node build (CommonJS) loads it with require(), which Node 20.19 and
// later do; the bundled host carries it inside the bundle.
// @ts-ignore TS1479 in the Node build only (the browser build and the tests resolve it as they are)
import { Lexer, type Token, walkTokens } from 'marked';

/** Text the model (or data) wrote, as opposed to the cell builders' own markdown. */
export interface Untrusted {
  readonly untrusted: string;
}

/** A piece of a cell: the builders' markdown (a string) or text the model wrote. */
export type MarkdownPart = string | Untrusted;

export function untrusted(text: string): Untrusted {
  return { untrusted: text };
}

/** What escapes a `<` or `![` the model wrote outside code, a `"`, and the characters that open math. */
const ESCAPED: Record<string, string> = {
  '<': '&lt;',
  '!': '\\!',
  '"': '&quot;',
  $: '\\$',
  '(': '&#40;',
  ')': '&#41;',
  '[': '&#91;',
  ']': '&#93;',
  '{': '&#123;'
};

/**
 * Whether `text[i]` is a character to replace: `<`, `"`, the `!` of `![`, or one
 * that makes math for JupyterLab (`$`; the bracket of `\\(`, `\\)`, `\\[`, `\\]`; the
 * brace of `\begin{` and `\end{`: its `removeMath` delimiters).
 */
function isCandidate(text: string, i: number): boolean {
  const c = text[i];
  if (c === '<' || c === '"' || c === '$') {
    return true;
  }
  if (c === '!') {
    return text[i + 1] === '[';
  }
  if ('()[]'.includes(c)) {
    return text[i - 1] === '\\' && text[i - 2] === '\\';
  }
  return c === '{' && /\\(?:begin|end)$/.test(text.slice(Math.max(0, i - 6), i));
}

/** Whether a backslash before it already makes the character text (for math brackets it does not: `\\\(` still opens math). */
function alreadyText(text: string, i: number): boolean {
  return '<!"$'.includes(text[i]) && escapedByBackslash(text, i);
}

/**
 * JupyterLab takes math (`$…$`, `\\(…\\)`, `\begin{…}`) out of the text before
 * `marked` sees it, which can take a backtick away from a code span; code that
 * holds such a delimiter is therefore not trusted to stay code.
 */
const MATH_DELIMITER = /\$|\\\\|\\(?:begin|end)\{/;

/** Characters that mean nothing to markdown and are not in `text`: one per replaced `<` or `!`. */
function* markers(text: string): Generator<string> {
  const used = new Set(text.match(/[\uE000-\uF8FF]|[\u{F0000}-\u{10FFFD}]/gu) ?? []);
  for (const [from, to] of [
    [0xe000, 0xf8ff],
    [0xf0000, 0xffffd],
    [0x100000, 0x10fffd]
  ]) {
    for (let code = from; code <= to; code++) {
      const marker = String.fromCodePoint(code);
      if (!used.has(marker)) {
        yield marker;
      }
    }
  }
}

function lex(markdown: string): Token[] {
  return Lexer.lex(markdown, { gfm: true });
}

/**
 * The characters of `markdown` that `marked` reads as code. A fence's info
 * string is not among them: it becomes a class attribute, into which JupyterLab
 * puts math back unescaped.
 */
function codeCharacters(markdown: string, standsFor: ReadonlyMap<string, string>): Set<string> {
  const inCode = new Set<string>();
  // The math test reads the code as written, its markers put back.
  const written = (raw: string) => Array.from(raw, c => standsFor.get(c) ?? c).join('');
  walkTokens(lex(markdown), token => {
    if ((token.type === 'code' || token.type === 'codespan') && !MATH_DELIMITER.test(written(token.raw))) {
      const fenced = token.type === 'code' && token.codeBlockStyle !== 'indented';
      for (const character of fenced ? token.raw.slice(token.raw.indexOf('\n') + 1) : token.raw) {
        inCode.add(character);
      }
    }
  });
  return inCode;
}

/** A `<` or `!` preceded by an odd run of backslashes is already text. */
function escapedByBackslash(text: string, index: number): boolean {
  let run = 0;
  while (index - run - 1 >= 0 && text[index - run - 1] === '\\') {
    run++;
  }
  return run % 2 === 1;
}

/**
 * Every `<`, `"`, `![` and math delimiter the model wrote, escaped whatever `marked` makes of it, a backslash
 * before it or not: inside a bare URL GFM autolinks, a backslash escapes nothing (`http://x/a>\<img …>`).
 */
function escapeAll(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    out += isCandidate(text, i) && text[i] !== '!' ? ESCAPED[text[i]] : text[i];
  }
  return out.replace(/!\[/g, '!\\[');
}

/** Whether the rendered cell would hold an image, or HTML other than the builders' own tags. */
function loadsOrInjects(markdown: string, ownTags: string[]): boolean {
  let found = false;
  walkTokens(lex(markdown), token => {
    if (token.type === 'image') {
      found = true;
    } else if (token.type === 'html') {
      const rest = ownTags.reduce((raw, tag) => raw.split(tag).join(''), token.raw);
      found ||= rest.includes('<');
    }
  });
  return found;
}

/** The cell's markdown, in which no text the model wrote becomes an HTML element or an image. */
export function safeMarkdown(parts: readonly MarkdownPart[]): string {
  const all = parts.map(p => (typeof p === 'string' ? p : p.untrusted)).join('');
  const next = markers(all);
  type Replaced = { text: string; replaced: Map<number, string> };
  const pieces: (string | Replaced)[] = [];
  let marked = '';
  const standsFor = new Map<string, string>();
  for (const part of parts) {
    if (typeof part === 'string') {
      pieces.push(part);
      marked += part;
      continue;
    }
    const text = part.untrusted;
    const replaced = new Map<number, string>();
    let out = '';
    for (let i = 0; i < text.length; i++) {
      const candidate = isCandidate(text, i);
      const marker = candidate ? next.next().value : undefined;
      if (candidate && marker === undefined) {
        // More brackets than markers: escape them all.
        return parts.map(p => (typeof p === 'string' ? p : escapeAll(p.untrusted))).join('');
      }
      if (marker !== undefined) {
        replaced.set(i, marker);
        standsFor.set(marker, text[i]);
      }
      out += marker ?? text[i];
    }
    pieces.push({ text, replaced });
    marked += out;
  }
  const inCode = codeCharacters(marked, standsFor);
  const result = pieces
    .map(piece => {
      if (typeof piece === 'string') {
        return piece;
      }
      let out = '';
      for (let i = 0; i < piece.text.length; i++) {
        const marker = piece.replaced.get(i);
        const character = piece.text[i];
        out += marker === undefined || inCode.has(marker) || alreadyText(piece.text, i) ? character : ESCAPED[character];
      }
      return out;
    })
    .join('');
  const ownTags = parts.flatMap(p => (typeof p === 'string' ? (p.match(/<[^<>]*>/g) ?? []) : []));
  return loadsOrInjects(result, ownTags) ? parts.map(p => (typeof p === 'string' ? p : escapeAll(p.untrusted))).join('') : result;
}

/** Model-written markdown standing alone, with no element that could load a remote resource when rendered. */
export function neutralizeRemoteContent(markdown: string): string {
  return safeMarkdown([untrusted(markdown)]);
}
