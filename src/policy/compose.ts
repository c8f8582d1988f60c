// Moved: the call's core types live in call/context.ts; this file goes once every import points there.
export * from '../call/context.js';
