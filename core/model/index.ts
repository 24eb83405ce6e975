export * from './common.ts';
export * from './machine.ts';
export * from './profile.ts';
export * from './spec.ts';
export * from './status.ts';
export * from './storage.ts';
export * from './documents.ts';
