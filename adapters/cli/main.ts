#!/usr/bin/env node
import { parseArgs } from 'node:util'
// Each command loads only what it runs: `conformance` must not pay for the gateway's modules.

const USAGE = `agentswitch — a payment gateway for AI agents

Usage:
  agentswitch dev                       dev mode: SQLite under ./data, demo merchant, sandboxes (same as npm start)
  agentswitch serve --config FILE       production: one validated config file (JSON or YAML)
  agentswitch conformance run --base-url URL [--protocol P] [--json F] [--junit F] [--html F] …
                                        check a server requirement by requirement (agentswitch conformance help)
  agentswitch conformance list [--protocol P]
                                        the requirement registry: the compliance matrix
  agentswitch mcp [--base-url URL]      the payment MCP server over stdio, calling the gateway with AGENTSWITCH_API_KEY
  agentswitch help

Environment:
  PORT                  dev mode port (default 8402)
  AGENTSWITCH_DATA_DIR  dev mode data directory (default ./data)
  AGENTSWITCH_DEV_SANDBOXES=off  dev mode without the sandbox rails (local chain, Alipay sandbox)
  LOG_LEVEL             dev mode log level (default info)
  AGENTSWITCH_URL       mcp: the gateway's base URL (default http://127.0.0.1:8402; --base-url wins)
  AGENTSWITCH_API_KEY   mcp: the agent's API key every tool call is made with
  Secrets referenced as { "env": "NAME" } in the config file are read from the environment.
`

/**
 * The entry point: the only place that reads `process.env` and `process.argv`. Exit codes: 0 ok,
 * 1 runtime failure, 2 usage or configuration error.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'dev': {
      const dataDir = env['AGENTSWITCH_DATA_DIR'] ?? './data'
      const port = env['PORT'] === undefined ? 8402 : Number(env['PORT'])
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        console.error(`PORT must be an integer from 0 to 65535, got ${env['PORT']}`)
        return 2
      }
      const level = (env['LOG_LEVEL'] ?? 'info') as 'info'
      const { describeDev, startDev } = await import('./dev.js')
      const sandboxes = env['AGENTSWITCH_DEV_SANDBOXES'] !== 'off'
      const dev = await startDev({ dataDir, port, host: env['HOST'] ?? '127.0.0.1', logLevel: level, env, sandboxes })
      console.log(describeDev(dev.devJson, dataDir))
      await waitForSignal()
      await dev.stop()
      return 0
    }
    case 'serve': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, strict: true })
      if (!values.config) {
        console.error('serve needs --config FILE\n\n' + USAGE)
        return 2
      }
      const { loadConfigFile } = await import('../../core/config/load.js')
      const { createGateway } = await import('../gateway/createGateway.js')
      const config = loadConfigFile(values.config, env)
      const gateway = await createGateway(config)
      const url = await gateway.listen()
      gateway.logger.info({ url, store: config.store.driver }, 'agentswitch listening')
      await waitForSignal()
      await gateway.close()
      return 0
    }
    case 'mcp': {
      // issue 11: stdout carries only the MCP protocol; nothing else may print to it.
      const { values } = parseArgs({ args: rest, options: { 'base-url': { type: 'string' } }, strict: true })
      const baseUrl = values['base-url'] ?? env['AGENTSWITCH_URL'] ?? 'http://127.0.0.1:8402'
      if (!/^https?:\/\/[^\s]+$/.test(baseUrl)) {
        console.error(`mcp: --base-url / AGENTSWITCH_URL must be an http(s) URL, got ${baseUrl}`)
        return 2
      }
      const { runMcpStdio } = await import('../mcp/stdio.js')
      await runMcpStdio({ baseUrl, apiKey: env['AGENTSWITCH_API_KEY'] || undefined, version: '0.1.0' })
      return 0
    }
    case 'conformance': {
      // Loaded on demand: the gateway commands never load the conformance tool.
      const { conformanceCli } = await import('../../conformance/cli.js')
      return conformanceCli(rest, { out: (l) => console.log(l), err: (l) => console.error(l), env, cwd: process.cwd() })
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return command === undefined ? 2 : 0
    default:
      console.error(`unknown command ${command}\n\n${USAGE}`)
      return 2
  }
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof Error && err.name === 'ConfigError') {
      console.error(err.message)
      process.exit(2)
    }
    console.error(err instanceof Error ? (err.stack ?? err.message) : err)
    process.exit(1)
  },
)
