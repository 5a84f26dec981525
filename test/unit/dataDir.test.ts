import * as path from 'node:path';

import { defaultModelsDir } from '../../src/headless/jupyterDataDir';

describe('the per-user models folder', () => {
  it('is under the Jupyter data dir unless DATARUS_MODELS_DIR says otherwise', () => {
    expect(defaultModelsDir({ JUPYTER_DATA_DIR: '/j' })).toBe(path.join('/j', 'datarus', 'models'));
    expect(defaultModelsDir({ JUPYTER_DATA_DIR: '/j', DATARUS_MODELS_DIR: '/m' })).toBe('/m');
  });
});
