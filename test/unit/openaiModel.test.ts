import { inferStopString } from '../../src/agent/openaiModel';

describe('stop string inference for OpenAI-compatible servers', () => {
  const stops = ['</step>', '</stop_analysis>'];
  it('names the closing tag of the block left open', () => {
    expect(inferStopString('<step>\n<thought>t</thought>\n<action_input>\nx\n</action_input>\n', stops)).toBe('</step>');
    expect(inferStopString('<stop_analysis>\n<answer>6</answer>\n', stops)).toBe('</stop_analysis>');
  });
  it('is null when nothing is open', () => {
    expect(inferStopString('plain text', stops)).toBeNull();
    expect(inferStopString('<step>x</step>', stops)).toBeNull();
  });
});
