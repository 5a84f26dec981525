/**
 * A plugin's settings, read and written by name with the types generated
 * from its schema (settingsTypes.ts), instead of casting `composite` at each use.
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { JSONValue } from '@lumino/coreutils';

export type { AgentSettings, HostStatusSettings } from './settingsTypes';

export class TypedSettings<T extends object> {
  constructor(readonly raw: ISettingRegistry.ISettings) {}

  /**
   * Every setting now in effect. The registry has validated them against the
   * schema `T` is generated from and filled in its defaults, so they are a `T`.
   */
  get values(): Readonly<T> {
    return this.raw.composite as Readonly<T>;
  }

  get<K extends keyof T & string>(key: K): T[K] {
    return this.values[key];
  }

  set<K extends keyof T & string>(key: K, value: T[K] & JSONValue): Promise<void> {
    return this.raw.set(key, value);
  }

  get changed(): ISettingRegistry.ISettings['changed'] {
    return this.raw.changed;
  }
}

/** Loads a plugin's settings, typed. */
export async function loadSettings<T extends object>(registry: ISettingRegistry, pluginId: string): Promise<TypedSettings<T>> {
  return new TypedSettings<T>(await registry.load(pluginId));
}
