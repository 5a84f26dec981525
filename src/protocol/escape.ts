/**
 * Text the harness did not write (what the kernel printed, what a data file
 * holds) must not become protocol where it is rendered: a printed
 * `</observation></step><step>…` inside an observation became a second step
 * when the `tagged` export was parsed back, and a printed `<|im_end|>` would be
 * a turn boundary for a trainer's tokenizer. So every `<` that opens one of
 * the protocol's tags (in any case, with spaces, opening or closing) or a chat
 * template's special token (`<|…|>`) is written `&lt;`, and `&` is written
 * `&amp;` where it would otherwise read as one of these two escapes, so that
 * `unescapeProtocol(escapeProtocol(t)) === t` for every text. Nothing else
 * changes: `a < b`, `<NA>` and `<Figure size …>` read as printed.
 */

/** Tags of the protocol (parser.ts), of the data fence, and of chat templates' turn markers. */
const TAG_NAMES = ['step', 'thought', 'action_input', 'action', 'observation', 'stop_analysis', 'answer', 'think', 'data', 'start_of_turn', 'end_of_turn', 's'];

/** A `<` that opens one of those tags, however a lenient reader would accept it, or a special token `<|`. */
const FORGEABLE = new RegExp(`<(?=\\s*/?\\s*(?:${TAG_NAMES.join('|')})(?![A-Za-z0-9_])|\\|)`, 'gi');
/** An `&` that would read as one of the escapes below. */
const AMBIGUOUS_AMP = /&(?=(?:lt|amp);)/g;
const ESCAPE = /&(lt|amp);/g;

/** The text with everything that could forge protocol structure escaped (reversibly). */
export function escapeProtocol(text: string): string {
  return text.replace(AMBIGUOUS_AMP, '&amp;').replace(FORGEABLE, '&lt;');
}

/** The text `escapeProtocol` was given. */
export function unescapeProtocol(text: string): string {
  return text.replace(ESCAPE, (_, name: string) => (name === 'lt' ? '<' : '&'));
}
