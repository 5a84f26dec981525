/**
 * The model manifests name their prompt profile: Datarus-R1 gets the harness's
 * conversation, others the generic one, and a name no profile has is reported
 * as a manifest problem (the model is not offered) instead of failing later.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadManifests } from '../../src/host/models/manifests';
import { getProfile } from '../../src/protocol';

const MODELS = path.join(__dirname, '..', '..', 'models');

describe('prompt profiles in manifests', () => {
  it('datarus-r1-14b uses the datarus-r1 profile, the Qwen2.5 Coder starters compact; the others default to generic', async () => {
    const { manifests, problems } = await loadManifests(MODELS);
    expect(problems).toEqual([]);
    expect(manifests.get('datarus-r1-14b')?.promptProfile).toBe('datarus-r1');
    for (const [name, manifest] of manifests) {
      const expected = name === 'datarus-r1-14b' ? 'datarus-r1' : name.startsWith('qwen2.5-coder-') ? 'compact' : 'generic';
      expect({ name, profile: getProfile(manifest.promptProfile).name }).toEqual({ name, profile: expected });
    }
  });

  it('reports a manifest whose profile does not exist', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datarus-manifests-'));
    mkdirSync(path.join(dir, 'schema'));
    copyFileSync(path.join(MODELS, 'schema', 'manifest.schema.json'), path.join(dir, 'schema', 'manifest.schema.json'));
    copyFileSync(path.join(MODELS, 'datarus-test-tiny.json'), path.join(dir, 'tiny.json'));
    const bad = { ...require(path.join(MODELS, 'datarus-test-tiny.json')), name: 'typo', promptProfile: 'datarus-r2' };
    writeFileSync(path.join(dir, 'typo.json'), JSON.stringify(bad));
    const { manifests, problems } = await loadManifests(dir);
    expect([...manifests.keys()]).toEqual(['datarus-test-tiny']);
    expect(problems).toEqual([{ file: 'typo.json', message: 'unknown promptProfile "datarus-r2" (known: generic, datarus-r1, compact)' }]);
  });
});
