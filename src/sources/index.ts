/** Sources: what a snapshot reads (a folder walk, a command's output) and the order of entries. */
export { compareNames, comparePaths } from "./order.js";
export { walkDir, describeFsError, DEFAULT_IGNORE_FILE_NAME, type SourceEntry, type DirSourceOptions } from "./dir.js";
export { runCommandSource, type CommandSourceOptions } from "./command.js";
