import plugins from './lab';

export { IDatarusClient } from './lab/tokens';
export type { HostProcessState } from './lab/tokens';

export default plugins;
