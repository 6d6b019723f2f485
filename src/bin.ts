// Runs the CLI: the bin imports this module and nothing else.
import { main } from './cli/cli.js';

await main();
