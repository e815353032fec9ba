/** `bistro nodes CONFIG`: runs the node sources once and prints the tree per level. */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { parseConfig, parseConfigJson } from '../../config/config.js';
import { readFileSync } from 'node:fs';
import { fetchNodes } from '../../nodes/fetchNodes.js';
import { CliExit, formatTable, printError, printJson, printLine } from '../output.js';

interface NodesOptions {
  instanceNodeName?: string;
  limit: string;
  json?: boolean;
}

export function registerNodesCommand(program: Command): void {
  program
    .command('nodes')
    .description(
      'run the node sources once and print the node tree: per level, the count and the first names',
    )
    .argument('<config>', 'path of the JSON config file')
    .option('--instance-node-name <name>', 'name of the instance node (default: this host name)')
    .option('--limit <n>', 'how many names to show per level', '10')
    .option('--json', 'print every level with all its nodes as JSON')
    .action(async (file: string, options: NodesOptions) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 0) {
        printError(`--limit: expected a whole number >= 0, received ${JSON.stringify(options.limit)}`);
        throw new CliExit(2);
      }
      let nodes;
      let settings;
      try {
        settings = parseConfig(parseConfigJson(readFileSync(file, 'utf8'), file)).settings;
        nodes = await fetchNodes(settings, { instanceName: options.instanceNodeName ?? hostname() });
      } catch (error) {
        printError(`${file}: ${(error as Error).message}`);
        throw new CliExit(1);
      }
      const levels = settings.levels.slice(0, -1);
      if (options.json) {
        const out: Record<
          string,
          { name: string; parent: string | null; enabled: boolean; tags: readonly string[] }[]
        > = {};
        levels.forEach((level, id) => {
          out[level] = Array.from(nodes.atLevel(id), (i) => {
            const node = nodes.node(i);
            return {
              name: node.name,
              parent: node.parent >= 0 ? nodes.name(node.parent) : null,
              enabled: node.enabled,
              tags: node.tags ?? [],
            };
          });
        });
        printJson(out);
        return;
      }
      const rows = levels.map((level, id) => {
        const indices = nodes.atLevel(id);
        const disabled = indices.reduce((count, i) => count + (nodes.enabled[i] === 1 ? 0 : 1), 0);
        const shown = Array.from(indices.subarray(0, limit), (i) => nodes.name(i));
        const more = indices.length > limit ? `, ... (+${indices.length - limit})` : '';
        return [level, String(indices.length), String(disabled), shown.join(', ') + more];
      });
      printLine(formatTable(['LEVEL', 'NODES', 'DISABLED', 'FIRST NAMES'], rows));
    });
}
