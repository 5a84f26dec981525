import { formatAnswer, formatStep, REWARD_WEIGHTS, scoreText } from '../../src/protocol';

const STEP = formatStep({ thought: 'Sum x.', code: 'print(df.x.sum())' });
const ANSWER = formatAnswer({ thought: 'It printed 6.', text: 'The sum is 6.' });

describe('structural reward', () => {
  it('weights sum to 1', () => {
    const total = Object.values(REWARD_WEIGHTS).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 10);
  });

  it('gives 1 to a well-formed episode', () => {
    expect(scoreText(`${STEP}\n${ANSWER}`).score).toBe(1);
  });

  it('gives 0 to text with no structure', () => {
    const reward = scoreText('just prose');
    expect(reward.score).toBe(0);
  });

  it('costs the final-answer weight when the answer is missing', () => {
    expect(scoreText(STEP).score).toBeCloseTo(1 - REWARD_WEIGHTS.final_answer, 6);
  });

  it('costs the observation weight for a fabricated observation', () => {
    const reward = scoreText(`${STEP}<observation>6</observation>${ANSWER}`);
    expect(reward.parts.no_fabricated_observation).toBe(0);
    expect(reward.score).toBeCloseTo(1 - REWARD_WEIGHTS.no_fabricated_observation, 6);
  });

  it('counts the share of steps with code', () => {
    const empty = formatStep({ thought: 'Nothing.', code: '' });
    const reward = scoreText(`${STEP}${empty}${ANSWER}`);
    expect(reward.parts.code_present).toBe(0.5);
  });

  it('penalises tag defects a quarter each', () => {
    const reward = scoreText(`<Step><thought>t</thought><action>python_executor</action><action_input>print(1)</action_input>`);
    // tag_case + truncated = two defects
    expect(reward.parts.well_formed).toBe(0.5);
  });

  it('penalises text outside tags and after the answer', () => {
    expect(scoreText(`Sure!${STEP}${ANSWER}`).parts.no_text_outside_tags).toBe(0);
    expect(scoreText(`${STEP}${ANSWER}Thanks!`).parts.no_text_outside_tags).toBe(0);
  });

  it('stays in [0, 1]', () => {
    const awful = '</step></step></step><STEP><observation>x</observation>'.repeat(10);
    const { score } = scoreText(awful);
    expect(score).toBeGreaterThanOrEqual(0);
    expect(score).toBeLessThanOrEqual(1);
  });
});
