/** The model backend and the kernels a headless command starts, together, stopping either when the other fails. */
import { resolveUserPath } from '../host/models/manifests';
import { defaultModelsDir } from './jupyterDataDir';
import { JupyterEndpoint, KernelPool, parseJupyterUrl } from './kernels';
import { ModelBackend, remoteBackend, startEmbeddedHost } from './models';
import type { HeadlessOptions } from './options';
import type { Write } from './progress';
import { UsageError } from './usageError';

/** The model: remote servers when `--base-url` is given, else the embedded host with `--model` (or its default). */
export async function startModel(opts: HeadlessOptions, parallel: number, write: Write): Promise<ModelBackend> {
  const apiKey = opts.apiKey ?? process.env.DATARUS_API_KEY ?? process.env.OPENAI_API_KEY;
  if (opts.baseUrl && opts.baseUrl.length > 0) {
    for (const url of opts.baseUrl) {
      if (!/^https?:\/\//.test(url)) {
        throw new UsageError(`--base-url must be an http(s) URL: ${url}`);
      }
    }
    return remoteBackend({ baseUrls: opts.baseUrl, apiKey, model: opts.model, log: write });
  }
  const model = opts.model ?? process.env.DATARUS_MODEL;
  if (model?.endsWith('.gguf')) {
    // Said before anything starts, in one line: the file the user gave is not there.
    await resolveUserPath(defaultModelsDir(), model).catch((err: Error) => {
      throw new UsageError(`model: ${err.message} (given by ${opts.model ? '--model' : '$DATARUS_MODEL'})`);
    });
  }
  return startEmbeddedHost({
    model,
    threads: opts.threads,
    contextSize: opts.contextSize,
    gpu: opts.gpu,
    maxEpisodes: Math.max(parallel, 1),
    log: write
  });
}

/** Kernels: from `--jupyter-url` servers, else from a private Jupyter server started here. */
export async function startKernels(opts: HeadlessOptions): Promise<KernelPool> {
  const token = opts.token ?? process.env.JUPYTER_TOKEN ?? '';
  if (opts.jupyterUrl && opts.jupyterUrl.length > 0) {
    const endpoints: JupyterEndpoint[] = opts.jupyterUrl.map(u => parseJupyterUrl(u, token));
    return KernelPool.remote(endpoints);
  }
  return KernelPool.local({ network: opts.kernelNetwork === true });
}

/** Starts both at once; stops what did start when the other fails. */
export async function startBoth(opts: HeadlessOptions, parallel: number, write: Write): Promise<{ backend: ModelBackend; kernels: KernelPool }> {
  const [backend, kernels] = await Promise.allSettled([startModel(opts, parallel, write), startKernels(opts)]);
  if (backend.status === 'rejected' || kernels.status === 'rejected') {
    if (backend.status === 'fulfilled') {
      await backend.value.close();
    }
    if (kernels.status === 'fulfilled') {
      await kernels.value.close();
    }
    throw backend.status === 'rejected' ? backend.reason : (kernels as PromiseRejectedResult).reason;
  }
  return { backend: backend.value, kernels: kernels.value };
}
