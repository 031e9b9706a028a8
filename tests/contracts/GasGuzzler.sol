// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// A "token" whose every call loops until its gas runs out: a batch call that makes it must
/// not mistake the failure for a revert (a revert of the multiplier views means "a plain
/// ERC-20"). Test-only.
contract GasGuzzler {
    uint256 private sink;

    fallback() external {
        uint256 i;
        while (true) {
            unchecked {
                i += sink + 1;
            }
        }
    }
}
