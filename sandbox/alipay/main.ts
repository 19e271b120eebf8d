/**
 * Child-process entry of the Alipay sandbox (dev mode starts it through ProcessRegistry):
 * `node --import tsx sandbox/alipay/main.ts`. Configured by environment variables (read only here):
 *
 * - `ALIPAY_SANDBOX_PORT` (default 0), `ALIPAY_SANDBOX_HOST` (default 127.0.0.1)
 * - `ALIPAY_SANDBOX_EDGES`: `name:port,…` for several listeners sharing one state (e.g. `primary:0,secondary:0`)
 * - `ALIPAY_SANDBOX_APPS`: JSON `[{ "appId", "publicKeyPem", "clientId"? }]`
 * - `ALIPAY_SANDBOX_PRIVATE_KEY`: the sandbox's own ("Alipay's") private key, PEM or bare base64 (generated when unset)
 * - `ALIPAY_SANDBOX_SEED`, `ALIPAY_SANDBOX_NOTIFY_SCALE` (default 0.001), `ALIPAY_SANDBOX_TIMESTAMP_TOLERANCE_MS`
 *
 * Prints exactly one line `ALIPAY_SANDBOX_READY <json>` (see {@link AlipaySandboxReady}) when it
 * listens, and stops cleanly on SIGTERM / SIGINT.
 */
import { startAlipaySandbox, type SandboxAppConfig } from './server.js'
import { ALIPAY_SANDBOX_READY_PREFIX, type AlipaySandboxReady } from './childProcess.js'

const env = process.env
const argPort = process.argv.indexOf('--port')
const port = Number(argPort >= 0 ? process.argv[argPort + 1] : (env['ALIPAY_SANDBOX_PORT'] ?? 0))
const apps = env['ALIPAY_SANDBOX_APPS'] ? (JSON.parse(env['ALIPAY_SANDBOX_APPS']) as SandboxAppConfig[]) : []
const edges = env['ALIPAY_SANDBOX_EDGES']
  ? env['ALIPAY_SANDBOX_EDGES'].split(',').map((e) => {
      const [name, p] = e.split(':')
      return { name: name!.trim(), port: Number(p ?? 0) }
    })
  : undefined
const tolerance = env['ALIPAY_SANDBOX_TIMESTAMP_TOLERANCE_MS']

const sandbox = await startAlipaySandbox({
  port,
  host: env['ALIPAY_SANDBOX_HOST'] ?? '127.0.0.1',
  edges,
  apps,
  ...(env['ALIPAY_SANDBOX_PRIVATE_KEY'] ? { alipayKeyPair: { privateKeyPem: env['ALIPAY_SANDBOX_PRIVATE_KEY'] } } : {}),
  seed: Number(env['ALIPAY_SANDBOX_SEED'] ?? 1),
  notify: { timeScale: Number(env['ALIPAY_SANDBOX_NOTIFY_SCALE'] ?? 0.001) },
  ...(tolerance === undefined ? {} : { timestampToleranceMs: tolerance === 'off' ? null : Number(tolerance) }),
})

const ready: AlipaySandboxReady = {
  url: sandbox.url,
  gatewayUrl: sandbox.gatewayUrl,
  edges: sandbox.edges,
  adminUrl: sandbox.adminUrl,
  alipayPublicKeyPem: sandbox.alipayPublicKeyPem,
  apps: apps.map((a) => a.appId),
  pid: process.pid,
}
console.log(`${ALIPAY_SANDBOX_READY_PREFIX} ${JSON.stringify(ready)}`)

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  void sandbox.close().then(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
