/**
 * Live progress of headless episodes on the terminal: per step its thought,
 * its code, a short observation and the turn's tokens per second; then the
 * answer or why the episode ended. With several episodes at once each line
 * names its task.
 */
import type { AgentHooks } from '../agent/loop';
import { deliveredAnswer } from '../episode/answer';
import { shortenedNote } from '../episode/cuts';
import type { Episode } from '../episode/types';
import type { TurnFigures } from './episode';

export type Write = (line: string) => void;

/** One line: whitespace runs folded, cut in the middle of long text. */
export function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

export function episodeProgress(write: Write, label = ''): { hooks: AgentHooks; onTurn: (f: TurnFigures) => void } {
  const prefix = label ? `[${label}] ` : '';
  let turn: TurnFigures | null = null;
  const speed = () =>
    turn ? ` (${turn.completionTokens} tokens${turn.tokensPerSecond ? `, ${turn.tokensPerSecond.toFixed(1)} tokens/s` : ''})` : '';
  return {
    onTurn: f => {
      turn = f;
    },
    hooks: {
      onThought: (step, thought) => write(`${prefix}step ${step + 1} · ${oneLine(thought)}`),
      onStepDone: step => {
        const lines = step.code.split('\n').length;
        if (step.status === 'invalid') {
          write(`${prefix}  ✗ not run: ${oneLine(step.problems?.join('; ') ?? step.observation)}${speed()}`);
          return;
        }
        write(`${prefix}  code: ${oneLine(step.code, 80)}${lines > 1 ? ` (${lines} lines)` : ''}`);
        const mark = step.status === 'ok' ? '→' : '✗';
        write(`${prefix}  ${mark} ${step.status === 'ok' ? '' : `${step.status}: `}${oneLine(step.observation, 120) || '(no output)'}${speed()}`);
      },
      onAnswer: (episode: Episode) => write(`${prefix}answer: ${oneLine(deliveredAnswer(episode) ?? '', 200)}${speed()}`)
    }
  };
}

/** The line that ends an episode that did not answer, or whose outputs were shortened to fit the context. */
export function endLine(episode: Episode): string {
  const shortened = shortenedNote(episode);
  if (episode.status === 'answered') {
    return shortened ? `note: ${shortened}` : '';
  }
  return `episode ended: ${episode.status}${episode.reason ? ` (${episode.reason})` : ''}${shortened ? `; ${shortened}` : ''}`;
}
