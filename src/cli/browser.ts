// Opens a URL in the user's browser with the `open` package. Failure only warns.
import type { Logger } from '../logger.js';

export async function openBrowser(url: string, logger: Logger): Promise<void> {
  const fail = (why: string) => logger.warn(`could not open a browser (${why}): open ${url} yourself`);
  try {
    // Loaded only when --open is used: nothing to pay at start otherwise.
    const { default: open } = await import('open');
    const child = await open(url);
    child.on('error', (err) => fail(err.message));
    child.on('exit', (code) => {
      if (code) fail(`the opener exited with code ${code}`);
    });
    child.unref();
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}
