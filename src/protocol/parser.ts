/**
 * An incremental, forgiving parser for Datarus agentic output.
 *
 * Feed it text chunk by chunk as tokens stream; it returns events as soon as a
 * thought, a piece of code, a step or the answer is complete. Any chunking of
 * a text gives the same result as feeding it whole: a possible tag split across
 * chunks is held back until it can be decided, and every decision depends only
 * on the text before it. It never throws on input: defects become violations.
 */
import { normalizeCode } from './code';
import { unescapeProtocol } from './escape';
import {
  ParseEvent,
  ParseResult,
  ParsedAnswer,
  ParsedStep,
  ParserOptions,
  PYTHON_EXECUTOR,
  Violation,
  ViolationKind
} from './types';

/** Tags the protocol knows; anything else in angle brackets is plain text. */
const KNOWN_TAGS = new Set([
  'step',
  'thought',
  'action',
  'action_input',
  'observation',
  'stop_analysis',
  'answer',
  'think'
]);

/** Inside code, only these tags end the code; `a<b` and HTML strings stay code. */
const CODE_TERMINATORS = new Set(['/action_input', '/step', 'observation']);

/** Inside a discarded observation, only these end it. */
const OBSERVATION_TERMINATORS = new Set(['/observation', 'step', 'stop_analysis']);

const TAG_AT = /<(\/?)([A-Za-z_]+)[ \t]*>/y;
/** A prefix that could still grow into a tag, e.g. `<`, `</ste`, `<step `. */
const TAG_PREFIX = /^<\/?[A-Za-z_]*[ \t]*$/;
const MAX_TAG_LENGTH = 32;

type Leaf = 'thought' | 'action' | 'action_input' | 'answer' | 'think' | 'observation';
type Container = 'top' | 'step' | 'stop';

interface Tag {
  name: string;
  closing: boolean;
  raw: string;
}

interface StepDraft {
  thought: string | null;
  action: string | null;
  code: string | null;
  observation: string | null;
}

interface AnswerDraft {
  thought: string | null;
  text: string | null;
}

export class DatarusStreamParser {
  constructor(options: ParserOptions = {}) {
    this._harnessObservations = options.harnessObservations ?? false;
  }

  /** Adds a chunk of model output; returns the events it completed. */
  feed(chunk: string): ParseEvent[] {
    if (this._ended) {
      return [];
    }
    this._pending += chunk;
    this._scan(false);
    return this._drain();
  }

  /** Marks the end of the text, closing whatever is still open. */
  end(): ParseEvent[] {
    if (this._ended) {
      return [];
    }
    this._scan(true);
    this._ended = true;
    if (this._leaf) {
      const leaf = this._leaf;
      if (leaf !== 'observation') {
        this._violate('truncated', `the text ended inside <${leaf}>`);
      }
      this._closeLeaf();
    }
    if (this._container === 'step') {
      this._violate('truncated', 'the text ended inside <step> (no </step>)');
      this._finishStep();
    } else if (this._container === 'stop') {
      this._violate('truncated', 'the text ended inside <stop_analysis>');
      this._finishAnswer();
    }
    this._flushLoose();
    if (this._steps.length === 0 && this._answer === null) {
      this._violate('no_structure', 'no <step> and no <stop_analysis> found');
    }
    return this._drain();
  }

  /** The result so far (complete after `end()`). */
  result(): ParseResult {
    return {
      steps: this._steps.map(step => ({ ...step })),
      answer: this._answer ? { ...this._answer } : null,
      violations: this._violations.map(v => ({ ...v })),
      reasoning: this._reasoning
    };
  }

  /** The leaf being written right now, its text so far and where it is, for live display. */
  get partial(): { leaf: Leaf | null; text: string; container: Container } {
    return { leaf: this._leaf, text: this._leafText + (this._leaf ? this._pending : ''), container: this._container };
  }

  private _scan(final: boolean): void {
    const text = this._pending;
    let pos = 0;
    while (pos < text.length) {
      const lt = text.indexOf('<', pos);
      if (lt < 0) {
        this._text(text.slice(pos));
        pos = text.length;
        break;
      }
      if (lt > pos) {
        this._text(text.slice(pos, lt));
        pos = lt;
      }
      TAG_AT.lastIndex = lt;
      const match = TAG_AT.exec(text);
      if (match && match[0].length <= MAX_TAG_LENGTH) {
        const tag: Tag = { closing: match[1] === '/', name: match[2].toLowerCase(), raw: match[0] };
        if (KNOWN_TAGS.has(tag.name) && this._isActive(tag)) {
          this._tag(tag, match[2]);
          pos = lt + match[0].length;
          continue;
        }
        this._text('<');
        pos = lt + 1;
        continue;
      }
      const rest = text.slice(lt);
      if (!final && rest.length < MAX_TAG_LENGTH && TAG_PREFIX.test(rest)) {
        break; // could still become a tag: wait for more text
      }
      this._text('<');
      pos = lt + 1;
    }
    this._pending = text.slice(pos);
  }

  private _isActive(tag: Tag): boolean {
    const key = (tag.closing ? '/' : '') + tag.name;
    if (this._leaf === 'action_input') {
      return CODE_TERMINATORS.has(key);
    }
    if (this._leaf === 'observation') {
      return OBSERVATION_TERMINATORS.has(key);
    }
    return true;
  }

  private _text(text: string): void {
    if (this._leaf) {
      this._leafText += text;
    } else {
      this._loose += text;
    }
  }

  private _tag(tag: Tag, rawName: string): void {
    if (rawName !== tag.name && !this._caseReported) {
      this._caseReported = true;
      this._violate('tag_case', `tag written as ${tag.raw}; tags are lower case`);
    }
    if (this._leaf) {
      if (tag.closing && tag.name === this._leaf) {
        this._closeLeaf();
        return;
      }
      // Any other tag ends the open leaf: the model forgot its closing tag.
      if (this._leaf !== 'observation') {
        this._violate('unclosed_tag', `<${this._leaf}> was not closed before ${tag.raw}`);
      }
      this._closeLeaf();
    }
    if (tag.closing) {
      this._closeTag(tag);
    } else {
      this._openTag(tag);
    }
  }

  private _openTag(tag: Tag): void {
    const name = tag.name;
    switch (name) {
      case 'step':
        this._flushLoose();
        this._endContainer(tag);
        this._startStep();
        return;
      case 'stop_analysis':
        this._flushLoose();
        this._endContainer(tag);
        this._startAnswer();
        return;
      case 'observation':
        this._flushLoose();
        if (!(this._harnessObservations && this._container === 'top' && this._lastStepOpenForObservation())) {
          this._violate('fabricated_observation', 'the model wrote an <observation>; it was discarded');
          this._discardObservation = true;
        } else {
          this._discardObservation = false;
        }
        this._openLeaf('observation');
        return;
      case 'think':
        this._flushLoose();
        this._openLeaf('think');
        return;
      case 'answer':
        this._flushLoose();
        if (this._container !== 'stop') {
          this._endContainer(tag);
          this._violate('missing_open_tag', '<answer> outside <stop_analysis>');
          this._startAnswer();
          this._implicitStop = true;
        }
        this._openLeaf('answer');
        return;
      default: {
        // thought, action, action_input
        const leaf = name as Leaf;
        this._flushLoose();
        if (this._container === 'top') {
          this._violate('missing_open_tag', `<${name}> outside <step>`);
          this._startStep();
        }
        if (this._container === 'stop' && leaf !== 'thought') {
          // A step inside <stop_analysis>: the answer ends, the step is content after it.
          this._finishAnswer();
          this._startStep();
        }
        this._openLeaf(leaf);
      }
    }
  }

  private _closeTag(tag: Tag): void {
    const name = tag.name;
    if (name === 'step') {
      if (this._container === 'step') {
        this._flushLoose();
        this._finishStep();
        return;
      }
    } else if (name === 'stop_analysis') {
      if (this._container === 'stop') {
        if (this._answerDraft && this._answerDraft.text === null && this._loose.trim()) {
          this._violate('missing_open_tag', 'answer text without <answer>');
          this._answerDraft.text = this._loose.trim();
          this._loose = '';
        }
        this._flushLoose();
        this._finishAnswer();
        return;
      }
    } else if (name === 'think') {
      if (this._container === 'top') {
        // A leading `</think>` (the chat template opened the block): what came before is reasoning.
        this._reasoning += this._loose.trim();
        this._loose = '';
        return;
      }
    } else if (this._loose.trim() && name !== 'observation') {
      // `text</thought>`: the opening tag is missing, the text is the content.
      this._violate('missing_open_tag', `</${name}> without <${name}>`);
      const text = this._loose;
      this._loose = '';
      if (name === 'answer' && this._container !== 'stop') {
        this._endContainer(tag);
        this._startAnswer();
        this._implicitStop = true;
      } else if (name !== 'answer' && this._container !== 'step') {
        this._endContainer(tag);
        this._startStep();
      }
      this._leaf = name as Leaf;
      this._leafText = text;
      this._closeLeaf();
      return;
    }
    this._flushLoose();
    this._violate('stray_close_tag', `${tag.raw} closes nothing`);
  }

  /** Ends an open step or answer because a new one starts. */
  private _endContainer(tag: Tag): void {
    if (this._container === 'step') {
      this._violate('unclosed_tag', `<step> was not closed before ${tag.raw}`);
      this._finishStep();
    } else if (this._container === 'stop') {
      this._violate('unclosed_tag', `<stop_analysis> was not closed before ${tag.raw}`);
      this._finishAnswer();
    }
  }

  private _openLeaf(leaf: Leaf): void {
    this._leaf = leaf;
    this._leafText = '';
  }

  private _closeLeaf(): void {
    const leaf = this._leaf!;
    const text = this._leafText;
    this._leaf = null;
    this._leafText = '';
    switch (leaf) {
      case 'think':
        this._reasoning += (this._reasoning ? '\n' : '') + text.trim();
        return;
      case 'observation':
        if (!this._discardObservation && this._steps.length > 0) {
          this._steps[this._steps.length - 1].observation = harnessObservationText(text);
        }
        return;
      case 'answer':
        if (this._answerDraft) {
          this._answerDraft.text = joinRepeated(this._answerDraft.text, text.trim());
          if (this._implicitStop) {
            // `<answer>` without `<stop_analysis>`: the answer ends with it.
            this._finishAnswer();
          }
        }
        return;
      case 'thought':
        if (this._container === 'stop' && this._answerDraft) {
          this._answerDraft.thought = joinRepeated(this._answerDraft.thought, text.trim());
          return;
        }
        if (this._stepDraft) {
          if (this._stepDraft.thought !== null) {
            this._violate('multiple_actions', 'more than one <thought> in a step');
          }
          this._stepDraft.thought = joinRepeated(this._stepDraft.thought, text.trim());
          this._events.push({ type: 'thought', step: this._steps.length, text: this._stepDraft.thought });
        }
        return;
      case 'action':
        if (this._stepDraft) {
          if (this._stepDraft.action !== null) {
            this._violate('multiple_actions', 'more than one <action> in a step');
          } else {
            this._stepDraft.action = text.trim();
          }
        }
        return;
      case 'action_input':
        if (this._stepDraft) {
          if (this._stepDraft.code !== null) {
            this._violate('multiple_actions', 'more than one <action_input> in a step; the first is kept');
            return;
          }
          const { code, fenced } = normalizeCode(text);
          if (fenced) {
            this._violate('code_fence', 'markdown fences around the code were removed');
          }
          this._stepDraft.code = code;
          this._events.push({
            type: 'code',
            step: this._steps.length,
            action: this._stepDraft.action ?? PYTHON_EXECUTOR,
            code
          });
        }
        return;
    }
  }

  private _startStep(): void {
    if (this._answer !== null) {
      this._violate('content_after_answer', 'a step after the final answer');
    }
    this._container = 'step';
    this._stepDraft = { thought: null, action: null, code: null, observation: null };
  }

  private _finishStep(): void {
    const draft = this._stepDraft!;
    this._stepDraft = null;
    this._container = 'top';
    let action = draft.action;
    if (action === null || action === '') {
      this._violate('missing_action', `no <action>; ${PYTHON_EXECUTOR} assumed`);
      action = PYTHON_EXECUTOR;
    } else if (action !== PYTHON_EXECUTOR) {
      this._violate('unknown_action', `unknown action "${truncate(action, 60)}"; only ${PYTHON_EXECUTOR} exists`);
    }
    const code = draft.code ?? '';
    if (code.trim() === '') {
      this._violate('empty_code', draft.code === null ? 'a step without <action_input>' : 'a step with empty code');
    }
    const step: ParsedStep = { thought: draft.thought ?? '', action, code };
    this._steps.push(step);
    this._stepClosedAt = this._steps.length;
    this._events.push({ type: 'step', step: this._steps.length - 1, value: { ...step } });
  }

  private _startAnswer(): void {
    if (this._answer !== null) {
      this._violate('content_after_answer', 'a second <stop_analysis>');
    }
    this._container = 'stop';
    this._answerDraft = { thought: null, text: null };
  }

  private _finishAnswer(): void {
    const draft = this._answerDraft!;
    this._answerDraft = null;
    this._implicitStop = false;
    this._container = 'top';
    if (this._answer !== null) {
      return; // the first answer stands; the second was already reported
    }
    this._answer = { thought: draft.thought ?? '', text: draft.text ?? '' };
    this._events.push({ type: 'answer', value: { ...this._answer } });
  }

  /** Text outside any leaf: an error unless it is only whitespace. */
  private _flushLoose(): void {
    const text = this._loose;
    this._loose = '';
    if (text.trim() !== '') {
      if (this._answer !== null && this._container === 'top') {
        this._violate('content_after_answer', `text after the final answer: "${truncate(text.trim(), 60)}"`);
      } else {
        this._violate('text_outside_tags', `text outside tags: "${truncate(text.trim(), 60)}"`);
      }
    }
  }

  private _lastStepOpenForObservation(): boolean {
    return this._steps.length > 0 && this._stepClosedAt === this._steps.length && this._steps[this._steps.length - 1].observation === undefined;
  }

  private _violate(kind: ViolationKind, message: string): void {
    const violation: Violation = { kind, message };
    this._violations.push(violation);
    this._events.push({ type: 'violation', value: { ...violation } });
  }

  private _drain(): ParseEvent[] {
    const events = this._events;
    this._events = [];
    return events;
  }

  private readonly _harnessObservations: boolean;
  private _pending = '';
  private _ended = false;
  private _container: Container = 'top';
  private _leaf: Leaf | null = null;
  private _leafText = '';
  private _loose = '';
  private _stepDraft: StepDraft | null = null;
  private _answerDraft: AnswerDraft | null = null;
  private _steps: ParsedStep[] = [];
  private _stepClosedAt = -1;
  private _answer: ParsedAnswer | null = null;
  private _reasoning = '';
  private _violations: Violation[] = [];
  private _events: ParseEvent[] = [];
  private _discardObservation = false;
  private _caseReported = false;
  private _implicitStop = false;
}

/** Parses a whole text at once. */
export function parseDatarus(text: string, options?: ParserOptions): ParseResult {
  const parser = new DatarusStreamParser(options);
  parser.feed(text);
  parser.end();
  return parser.result();
}

function joinRepeated(previous: string | null, next: string): string {
  return previous ? `${previous}\n${next}` : next;
}

/**
 * What the kernel printed, from a harness observation: without the one newline
 * `formatObservation` puts on each side, and unescaped (src/protocol/escape.ts),
 * so a printed blank line or tag comes back as it was printed.
 */
function harnessObservationText(text: string): string {
  return unescapeProtocol(text.replace(/^\n/, '').replace(/\n$/, ''));
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}
