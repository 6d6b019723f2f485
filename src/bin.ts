// Runs the CLI: the bin imports this module and nothing else.
import { main } from './cli/cli.js';
import { limitHeapGrowth } from './cli/memory.js';

await main();
// Once started: limited from the first line, the heap's collections would slow the start (README
// "Performance" has the measurement).
limitHeapGrowth();
