"""Local sandboxes for exercising the auditor without touching real networks.

`evm.EvmNode` serves Ethereum JSON-RPC from an in-process py-evm chain and `solana.SolanaNode`
Solana JSON-RPC from an in-process LiteSVM, both over HTTP on 127.0.0.1 (`rpc_http`);
`solana.spl` builds SPL Token / Token-2022 mints and accounts in it with real transactions.
`demo` and `portfolio` run the `demo` and `sandbox` commands on them. Nothing here is imported
until one of those commands (or a test) asks for it.
"""
