/** `empty` source: adds nothing; only the instance node exists. */
import type { NodeSourceCompiler } from './source.js';

export const compileEmpty: NodeSourceCompiler = (prefs) => {
  prefs.finish();
  return { name: 'empty', run: () => undefined };
};
