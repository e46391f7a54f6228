/**
 * Change events of one file that other programs replace: the directory is watched, not the file. A deployment or
 * an agent that writes a new file and renames it over the old one would leave a watch on the old file's inode
 * blind (https://nodejs.org/api/fs.html#inodes); Kubernetes swaps a mounted file through a `..data` symlink, so
 * changes to names starting with `..` count too. Events can be missed or late (https://nodejs.org/api/fs.html#caveats):
 * callers that must not miss a change also check the file when they use it.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchFile(path: string, onChange: () => void, onError: (err: Error) => void): FSWatcher {
  const name = basename(path);
  const watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
    if (changed !== null && changed !== name && !changed.startsWith('..')) return;
    onChange();
  });
  watcher.on('error', onError);
  return watcher;
}
