/** The config file: its types, loading and validation. */
export {
  type Config,
  type SourceConfig,
  type DirSourceConfig,
  type CommandSourceConfig,
  type HooksConfig,
  DEFAULT_HOOK_TIMEOUT_MS,
  CONFIG_FILE_NAME,
  USER_CONFIG_FILE_NAME,
  LABEL_PATTERN,
  loadConfig,
  parseConfig,
  adHocSources,
} from "./config.js";
export { userConfigDir } from "../keys/paths.js";
