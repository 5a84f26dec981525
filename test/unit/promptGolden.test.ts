/**
 * Golden prompts: the conversation a fixed episode renders to, per profile, in
 * ChatML (`<|im_start|>role\n…<|im_end|>`, what a Qwen-based model such as
 * Datarus-R1 reads), in test/golden/prompts/. The datarus-r1 file was checked
 * by hand against the reference harness (Datarus-JupyterAgent,
 * src/core/agent.py): system prompt, query, step with the observation inside,
 * "Continue with the analysis.", the error message, the format reminder.
 * Set UPDATE_GOLDEN=1 to rewrite the files after a reviewed change.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

import { ChatMessage } from '../../src/protocol';
import { conversation, fullConversation } from '../../src/episode/conversation';
import { Episode, EpisodeStep } from '../../src/episode/types';

const DIR = path.join(__dirname, '..', 'golden', 'prompts');

function chatml(messages: ChatMessage[]): string {
  return messages.map(m => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + '<|im_start|>assistant\n';
}

const at = '2026-01-01T00:00:00.000Z';
const base = { violations: [], startedAt: at, endedAt: at, modelMs: 1, kernelMs: 1 };
const STEPS: EpisodeStep[] = [
  { ...base, index: 0, status: 'invalid', thought: '', code: '', raw: '</think>\nI will start by loading the data.', observation: '[not run]', problems: ['no <step> and no <stop_analysis> found'] },
  {
    ...base,
    index: 1,
    status: 'ok',
    thought: 'Load the data and look at its shape.',
    code: "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.shape)",
    raw: "<step>\n<thought>Load the data and look at its shape.</thought>\n<action>python_executor</action>\n<action_input>\nimport pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.shape)\n</action_input>\n</step>",
    observation: '(120, 4)\n'
  },
  {
    ...base,
    index: 2,
    status: 'error',
    thought: 'Compute the mean price.',
    code: "print(df['prize'].mean())",
    raw: "<step>\n<thought>Compute the mean price.</thought>\n<action>python_executor</action>\n<action_input>\nprint(df['prize'].mean())\n</action_input>\n</step>",
    observation: "Error: KeyError: 'prize'\nKeyError: 'prize'",
    error: { ename: 'KeyError', evalue: "'prize'" }
  },
  {
    ...base,
    index: 3,
    status: 'invalid',
    cutOff: true,
    thought: 'Save the table.',
    code: "f = open('out.csv', 'w')",
    raw: "<step>\n<thought>Save the table.</thought>\n<action>python_executor</action>\n<action_input>\nf = open('out.csv', 'w')\n",
    observation: '[not run]',
    problems: ['the turn hit the token limit']
  },
  {
    ...base,
    index: 4,
    status: 'ok',
    thought: 'Use the right column name.',
    code: "print(round(df['price'].mean(), 2))",
    raw: "<step>\n<thought>Use the right column name.</thought>\n<action>python_executor</action>\n<action_input>\nprint(round(df['price'].mean(), 2))\n</action_input>\n</step>",
    observation: '12.5\n'
  }
];

const episode = (promptProfile: string): Episode => ({
  schemaVersion: 1,
  id: 'golden',
  question: 'What is the mean price in sales.csv?',
  model: 'datarus-r1-14b',
  promptProfile,
  startedAt: at,
  status: 'answered',
  steps: STEPS,
  answer: { thought: 'The mean of the price column is 12.5.', text: 'The mean price is 12.5.' }
});

describe.each(['datarus-r1', 'generic'])('golden prompt: %s', profile => {
  const file = path.join(DIR, `${profile}.chatml`);

  it('renders the fixed episode exactly as the golden file', () => {
    const rendered = chatml(conversation(episode(profile)));
    if (process.env.UPDATE_GOLDEN) {
      writeFileSync(file, rendered);
    }
    expect(rendered).toBe(readFileSync(file, 'utf8'));
  });

  it('ends with the answer for SFT', () => {
    expect(fullConversation(episode(profile)).slice(0, -1)).toEqual(conversation(episode(profile)));
  });
});

it('datarus-r1 keeps every failed attempt, so each step prompt is a prefix of the next', () => {
  const whole = conversation(episode('datarus-r1'));
  for (let k = 0; k <= STEPS.length; k++) {
    const prefix = conversation(episode('datarus-r1'), k);
    expect(prefix).toHaveLength(2 + 2 * k);
    expect(whole.slice(0, prefix.length)).toEqual(prefix);
  }
});
