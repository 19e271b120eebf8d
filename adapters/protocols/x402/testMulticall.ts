/**
 * Test helper (not a test file): a Multicall3-compatible `tryAggregate` put at Multicall3's
 * canonical address on an anvil chain (`anvil_setCode`), so the official `@x402/evm` facilitator
 * can diagnose a failed simulation into its specific reasons (digest §6.2 step 8) instead of the
 * generic `invalid_exact_evm_transaction_simulation_failed` it gives on a bare local chain.
 */
import { createRequire } from 'node:module'
import { rpc } from '../../../sandbox/chain/anvil.js'

export const MULTICALL3_ADDRESS = '0xcA11bde05977b3631167028862bE2a173976CA11'

const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract TryAggregate {
  struct Call { address target; bytes callData; }
  struct Result { bool success; bytes returnData; }
  function tryAggregate(bool requireSuccess, Call[] calldata calls) external payable returns (Result[] memory returnData) {
    returnData = new Result[](calls.length);
    for (uint256 i = 0; i < calls.length; i++) {
      (bool ok, bytes memory ret) = calls[i].target.call(calls[i].callData);
      if (requireSuccess) require(ok, "Multicall3: call failed");
      returnData[i] = Result(ok, ret);
    }
  }
}`

let runtime: string | undefined

/** Compile (once per process, about a second) and install the contract at the canonical address. */
export async function installMulticall3(rpcUrl: string): Promise<void> {
  if (!runtime) {
    const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string }
    const out = JSON.parse(
      solc.compile(
        JSON.stringify({
          language: 'Solidity',
          sources: { 'TryAggregate.sol': { content: SOURCE } },
          settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun', outputSelection: { '*': { '*': ['evm.deployedBytecode.object'] } } },
        }),
      ),
    ) as { errors?: Array<{ severity: string; formattedMessage: string }>; contracts: Record<string, Record<string, { evm: { deployedBytecode: { object: string } } }>> }
    const errors = (out.errors ?? []).filter((e) => e.severity === 'error')
    if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'))
    runtime = `0x${out.contracts['TryAggregate.sol']!['TryAggregate']!.evm.deployedBytecode.object}`
  }
  await rpc(rpcUrl, 'anvil_setCode', [MULTICALL3_ADDRESS, runtime])
}
