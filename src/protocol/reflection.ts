/**
 * Reflection mode output: `<think>…</think>` then the answer. Models often drop
 * the opening `<think>` (the chat template writes it), so a lone `</think>`
 * splits reasoning from answer just the same.
 */
import { Violation } from './types';

export interface ParsedReflection {
  thinking: string;
  answer: string;
  violations: Violation[];
}

export function parseReflection(text: string): ParsedReflection {
  const violations: Violation[] = [];
  const close = /<\/think\s*>/i.exec(text);
  if (!close) {
    const open = /<think\s*>/i.exec(text);
    if (open) {
      violations.push({ kind: 'truncated', message: 'the text ended inside <think>' });
      return { thinking: text.slice(open.index + open[0].length).trim(), answer: '', violations };
    }
    violations.push({ kind: 'missing_open_tag', message: 'no <think> block: the whole text is the answer' });
    return { thinking: '', answer: text.trim(), violations };
  }
  const before = text.slice(0, close.index);
  const open = /<think\s*>/i.exec(before);
  const thinking = open ? before.slice(open.index + open[0].length) : before;
  if (open && before.slice(0, open.index).trim()) {
    violations.push({ kind: 'text_outside_tags', message: 'text before <think>' });
  }
  const answer = text.slice(close.index + close[0].length).trim();
  if (!answer) {
    violations.push({ kind: 'no_structure', message: 'no answer after </think>' });
  }
  return { thinking: thinking.trim(), answer, violations };
}
