"""Local sandboxes for exercising the auditor without touching real networks.

`solana_node.SolanaNode` serves Solana JSON-RPC over HTTP on 127.0.0.1 from an in-process
LiteSVM; `spl` builds SPL Token / Token-2022 mints and accounts in it with real transactions.
"""
