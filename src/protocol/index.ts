export * from './types';
export * from './code';
export * from './parser';
export * from './format';
export * from './reward';
export * from './messages';
export * from './profiles';
export * from './reflection';
