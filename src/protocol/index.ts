export * from './types';
export * from './code';
export * from './parser';
export * from './format';
export * from './reward';
export * from './prompts';
export * from './reflection';
export * from './compactPrompt';
