import { pino, type Logger } from 'pino'

/**
 * Paths pino removes from every log line: credentials in headers, card data, tokens, keys,
 * mandates and signatures, wherever they appear in a logged object. Secrets are never logged.
 */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'req.headers["x-payment"]',
  'req.headers["payment-signature"]',
  'req.headers.signature',
  'req.headers["simulation-secret"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.password',
  '*.secret',
  '*.apiKey',
  '*.api_key',
  '*.privateKey',
  '*.private_key',
  '*.token',
  '*.card',
  '*.number',
  '*.cvc',
  '*.cvv',
  '*.payment_data',
  '*.credential',
  '*.signature',
  '*.mandate',
  '*.key',
]

/** The gateway logger: JSON lines, redacted. */
export function createLogger(options: { level: string; name?: string; destination?: NodeJS.WritableStream }): Logger {
  const opts = {
    level: options.level,
    name: options.name ?? 'agentswitch',
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return options.destination ? pino(opts, options.destination) : pino(opts)
}
