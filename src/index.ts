import plugins from './lab';

export default plugins;
