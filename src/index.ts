// The public API of dev-https.
export { startDevHttps, type DevHttpsHandle, type InspectorHandle } from './server/server.js';
export type { InspectedRequest, InspectedDetail, HeadView, HeaderRow, HeaderMark, CookieNote, BodyInfo } from './inspector/types.js';
export type { CertificateInfo } from './certs/current-cert.js';
export { resolveOptions, type DevHttpsOptions, type ResolvedOptions } from './options.js';
export { DevHttpsError, type DevHttpsErrorCode } from './errors.js';
export { createLogger, silentLogger, type Logger, type LoggerOptions } from './logger.js';
export { runCheck, formatCheckReport, type CheckOptions, type CheckReport, type CheckItem } from './check/check.js';
