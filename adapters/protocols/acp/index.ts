/**
 * The ACP adapter (issue 6, API-Version 2026-04-17). Named re-exports only; importing mounts nothing.
 */
export { acpMount, SUPPORTED_VERSIONS } from './mount.js'
export type { AcpMountOptions, AcpEip3009HandlerOptions } from './options.js'
export { createJsonCatalog, createHttpCatalog, parseCatalog, DEMO_CATALOG_PATH, type CatalogPort, type CatalogSnapshot, type HttpCatalogOptions } from './catalog.js'
export { acpErrorBody, renderAcpError, renderDelegateError, type AcpErrorBody } from './errors.js'
export { ACP_VERSION, acpSchemas } from './schemas.js'
export { signRequest } from './signature.js'
export { luhnValid, parseVaultKey } from './vault.js'
export { acpAgentDestinations, acpDevFlowLines, devAcpMountOptions, DEV_PAY_TO, type DevAcpInput } from './dev.js'
export { parseAcpConfig, type AcpConfigSection } from './config.js'
