import { newEpisodeId } from '../../src/episode/ids';

describe('newEpisodeId', () => {
  it('names the kind of episode in its prefix, as the log and the notebook metadata show it', () => {
    expect(newEpisodeId()).toMatch(/^ep-[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$/);
    expect(newEpisodeId('reflect')).toMatch(/^reflect-[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$/);
  });

  it('never repeats within a session, even in the same millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newEpisodeId());
    expect(new Set(ids).size).toBe(1000);
  });

  it('fits the host API episode id pattern', () => {
    expect(newEpisodeId('reflect')).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  });
});
