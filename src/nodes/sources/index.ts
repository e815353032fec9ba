/** The node sources by their config name. */
import type { NodeSourceName } from '../../config/settings.js';
import { compileAddTime } from './addTime.js';
import { compileEmpty } from './empty.js';
import { compileManual } from './manual.js';
import { compileRangeLabel } from './rangeLabel.js';
import { compileScript } from './script.js';
import type { NodeSourceCompiler } from './source.js';

export const NODE_SOURCES: Readonly<Record<NodeSourceName, NodeSourceCompiler>> = {
  manual: compileManual,
  range_label: compileRangeLabel,
  script: compileScript,
  add_time: compileAddTime,
  empty: compileEmpty,
};
