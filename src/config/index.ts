/** The TOML reader both config files use: typed settings, unknown keys refused, errors that name the setting. */
export { ConfigError, TableReader, parseTomlTable, readConfigFile } from './toml.js';
