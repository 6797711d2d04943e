/** The training commands' parser is the kit's one CLI parser (`src/utils/cli_args.ts`); re-exported here. */
export { parseArgs, parseIntList, setsToOverrides } from '../utils/cli_args';
export type { ArgSpec, ParsedArgs } from '../utils/cli_args';
