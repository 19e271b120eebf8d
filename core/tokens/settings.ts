import type { GatewayConfig } from '../config/load.js'
import type { ScopedTokenSettings } from './types.js'

/** The scoped-token settings of a configuration (`tokens` section), or `undefined` when tokens are off. */
export function scopedTokenSettings(config: Pick<GatewayConfig, 'tokens'>): ScopedTokenSettings | undefined {
  const t = config.tokens
  if (!t) return undefined
  return { keys: t.signingKeys, maxTtlSeconds: t.maxTtlSeconds, ...(t.activeKeyId !== undefined ? { activeKeyId: t.activeKeyId } : {}) }
}
