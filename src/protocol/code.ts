/**
 * Normalisation of the code inside `<action_input>`: models wrap it in markdown
 * fences and indent it as a whole; the kernel wants neither.
 */

const FENCE = /^\s*```[\w+-]*[ \t]*\r?\n([\s\S]*?)\r?\n?[ \t]*```\s*$/;

/** Removes one markdown fence around the whole block; `fenced` says whether there was one. */
export function stripCodeFence(code: string): { code: string; fenced: boolean } {
  const match = FENCE.exec(code);
  return match ? { code: match[1], fenced: true } : { code, fenced: false };
}

/** Removes the indentation common to all non-blank lines. */
export function dedent(code: string): string {
  const lines = code.split('\n');
  let common: string | null = null;
  for (const line of lines) {
    if (line.trim() === '') {
      continue;
    }
    const indent = /^[ \t]*/.exec(line)![0];
    if (common === null) {
      common = indent;
    } else {
      let i = 0;
      while (i < common.length && i < indent.length && common[i] === indent[i]) {
        i++;
      }
      common = common.slice(0, i);
    }
    if (common === '') {
      return code;
    }
  }
  if (!common) {
    return code;
  }
  const width = common.length;
  return lines.map(line => (line.trim() === '' ? line.trimStart() : line.slice(width))).join('\n');
}

/** Drops blank lines at both ends, keeping the inner lines exactly. */
export function trimBlankLines(code: string): string {
  const lines = code.replace(/\r\n/g, '\n').split('\n');
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start].trim() === '') {
    start++;
  }
  while (end > start && lines[end - 1].trim() === '') {
    end--;
  }
  return lines
    .slice(start, end)
    .map(line => line.replace(/[ \t]+$/, ''))
    .join('\n');
}

/** Fence removal, then blank-line trimming, then dedent: what the kernel runs. */
export function normalizeCode(raw: string): { code: string; fenced: boolean } {
  const { code, fenced } = stripCodeFence(raw);
  return { code: dedent(trimBlankLines(code)), fenced };
}

/**
 * Code as a reader compares it: line endings, trailing spaces and blank lines do not count (the loop's
 * check for a repeated step, and the conversation's follow-up after one).
 */
export function comparableCode(code: string): string {
  return code
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map(line => line.trimEnd())
    .filter(line => line !== '')
    .join('\n');
}
