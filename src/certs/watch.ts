// Watching the user's certificate files (chokidar): one callback per burst of changes, so a pair
// written file by file (or an editor's save-by-rename) is reloaded once, after it settles.
import path from 'node:path';
import { watch } from 'chokidar';

export interface FileWatcher {
  /** Resolves once the files are being watched. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** Calls `onChange` `settleMs` after the last change, add or removal of any of `files`; `onError` when watching fails. */
export function watchFiles(files: string[], onChange: () => void, onError: (err: Error) => void, settleMs = 150): FileWatcher {
  // Their directories, filtered to them: a watch on the files themselves loses the second of two
  // files of one directory that are deleted and written again (rm *.pem && mkcert ...).
  const wanted = new Set(files.map((f) => path.resolve(f)));
  const dirs = [...new Set([...wanted].map((f) => path.dirname(f)))];
  const watcher = watch(dirs, { ignoreInitial: true, persistent: true, atomic: true, depth: 0, ignored: (p) => !wanted.has(p) && !dirs.includes(p) });
  let timer: NodeJS.Timeout | null = null;
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, settleMs);
  };
  watcher.on('all', changed);
  // A watch that fails (too many watchers, a vanished directory) only ends hot reload: say so.
  watcher.on('error', (err) => onError(err instanceof Error ? err : new Error(String(err))));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
