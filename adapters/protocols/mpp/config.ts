/**
 * The `mpp` configuration section (`schemas/config/mpp.json`) as {@link MppOptions}. The loader
 * (`core/config/load.ts`) validated it, resolved `{ env }` secrets and checked their length and
 * the route ids; this applies what is left and checks again (a programmatic caller).
 */
import { checkMppOptions, type MppOptions } from './provider.js'

/** The section as the loader leaves it (secrets resolved). */
export interface MppConfig {
  enabled?: boolean | undefined
  secret: string
  previousSecrets?: string[] | undefined
  realm?: string | undefined
  challengeTtlSeconds?: number | undefined
  routes?: string[] | undefined
  pendingWaitMs?: number | undefined
}

/**
 * Options of the MPP provider from the loaded section; `undefined` when it is disabled. Throws
 * GW_CONFIG_INVALID (e.g. a secret shorter than 32 bytes).
 *
 * @example const mpp = config.mpp ? mppOptionsFromConfig(config.mpp) : undefined
 */
export function mppOptionsFromConfig(section: Record<string, unknown>): MppOptions | undefined {
  const c = section as unknown as MppConfig
  if (c.enabled === false) return undefined
  const o: MppOptions = {
    secret: c.secret,
    ...(c.previousSecrets?.length ? { previousSecrets: c.previousSecrets } : {}),
    ...(c.realm ? { realm: c.realm } : {}),
    ...(c.challengeTtlSeconds ? { challengeTtlSeconds: c.challengeTtlSeconds } : {}),
    ...(c.routes ? { routes: c.routes } : {}),
    ...(c.pendingWaitMs !== undefined ? { pendingWaitMs: c.pendingWaitMs } : {}),
  }
  checkMppOptions(o)
  return o
}
