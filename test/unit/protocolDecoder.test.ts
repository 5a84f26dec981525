/**
 * The joins between the free parts and the fixed text of a segmented
 * `datarus` turn: whatever a free part ends with, the turn is a sentence of the
 * grammar (checked by an automaton that reads the GBNF text).
 */
import { closeCode, TURN_OPENERS, TURN_PARTS } from '../../src/host/protocolDecoder';
import { isProtocolPrefix, isProtocolSentence } from '../helpers/protocolGrammar';

function step(thought: string, code: string): string {
  const [open, , thoughtEnd] = TURN_PARTS['<step>'] as { literal?: string }[];
  return `<step>${open.literal}${thought}${thoughtEnd.literal}${code}${closeCode(code)}`;
}

describe('closeCode', () => {
  it.each(['x = 1', 'x = 1\n', 'a < b', 'a <\nb\n', 'x<', 'a<\n', '<\n', '\n', '<', '<<', 'a\n\n'])('closes the code %j into a sentence', code => {
    expect(isProtocolSentence(step('t', code))).toBe(true);
  });

  it('keeps the code as the model wrote it when it ended with the newline before the closing tag', () => {
    expect(step('t', 'print(1)\n')).toBe('<step>\n<thought>t</thought>\n<action>python_executor</action>\n<action_input>\nprint(1)\n</action_input>\n</step>');
  });
});

describe('the parts of a turn', () => {
  it('spell sentences of the grammar for both openers', () => {
    for (const opener of TURN_OPENERS) {
      let text = opener;
      for (const part of TURN_PARTS[opener]) {
        text += 'literal' in part ? part.literal : part.free === 'text' ? 'free text' : 'x = 1';
      }
      if (opener === '<step>') {
        text += closeCode('x = 1');
      }
      expect(isProtocolSentence(text)).toBe(true);
    }
  });

  it('the grammar automaton refuses what the grammar refuses', () => {
    expect(isProtocolSentence('<step>\n<thought></thought>\n<action>python_executor</action>\n<action_input>\nx\n</action_input>\n</step>')).toBe(false);
    expect(isProtocolSentence('<step>\n<thought>a<b</thought>\n<action>python_executor</action>\n<action_input>\nx\n</action_input>\n</step>')).toBe(false);
    expect(isProtocolSentence('<step>\n<thought>a</thought>\n<action>python_executor</action>\n<action_input>\nx</y\n</action_input>\n</step>')).toBe(false);
    expect(isProtocolPrefix('<stop_analysis>\n<thought>a</thought>\n<answer>b')).toBe(true);
    expect(isProtocolPrefix('<stop_analysis>\n<thought>a</thought>\n<answer>b<')).toBe(true);
    expect(isProtocolPrefix('<stop_analysis>\n<thought>a</thought>\n<answer>b<x')).toBe(false);
    expect(isProtocolPrefix('<steps')).toBe(false);
  });
});
