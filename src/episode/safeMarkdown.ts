/**
 * Model-written markdown goes into cells that JupyterLab renders at once. Its
 * sanitizer keeps `<img src="https://…">` and markdown images, so a model (or a
 * prompt injected through the data it read) could make the browser fetch any
 * URL the moment a cell renders. Before the text reaches a cell, every image
 * and every other raw HTML tag outside a short list of inert ones is turned
 * into visible text. Code spans and fenced blocks are left alone: nothing in
 * them renders as HTML.
 */

/** Tags that load nothing and run nothing; they pass when they carry no attributes (`<a>` may carry `href`). */
const INERT_TAGS = new Set([
  'b', 'i', 'em', 'strong', 'code', 'pre', 'kbd', 'sub', 'sup', 'br', 'hr', 'p', 'ul', 'ol', 'li',
  'blockquote', 'details', 'summary', 'span', 'div', 'small', 'mark', 'del', 'ins', 's', 'u',
  'table', 'thead', 'tbody', 'tr', 'th', 'td', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6'
]);

const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const SAFE_HREF = /^\s*href\s*=\s*(?:"(?:https?:|mailto:|#)[^"]*"|'(?:https?:|mailto:|#)[^']*')\s*$/i;
/** `![alt](url)`, `![alt][ref]`, `![alt]`: every markdown image, whatever its URL. */
const MARKDOWN_IMAGE = /!\[/g;
/** Fenced blocks and code spans, which render as text already. */
const CODE = /(^|\n)( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:\n\2?\3[`~]*[ \t]*(?=\n|$)|$)|(`+)[^`]*?\4(?!`)/g;

function neutralizeProse(text: string): string {
  return text
    .replace(TAG, (tag: string, closing: string, name: string, attributes: string) => {
      const lower = name.toLowerCase();
      const inert = INERT_TAGS.has(lower) && attributes.trim().replace(/\/$/, '').trim() === '';
      const link = lower === 'a' && (closing !== '' || SAFE_HREF.test(attributes));
      return inert || link ? tag : `&lt;${tag.slice(1)}`;
    })
    .replace(MARKDOWN_IMAGE, '!\\[');
}

/** The markdown with no element that could load a remote resource when rendered. */
export function neutralizeRemoteContent(markdown: string): string {
  let result = '';
  let last = 0;
  for (const match of markdown.matchAll(CODE)) {
    result += neutralizeProse(markdown.slice(last, match.index)) + match[0];
    last = match.index! + match[0].length;
  }
  return result + neutralizeProse(markdown.slice(last));
}
