// Runs the CLI: the bin imports this module and nothing else.
import { limitHeapGrowth } from './memory.js';

// Before the CLI's modules load, so the heap never grows past what a proxy needs.
limitHeapGrowth();
const { main } = await import('./cli.js');
await main();
