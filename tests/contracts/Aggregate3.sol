// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Aggregate3: a minimal stand-in for Multicall3, written for xstock-audit's tests.
/// @notice Same ABI as Multicall3 for the functions the auditor uses: `aggregate3` (each call
/// may be allowed to fail), `getBlockNumber` and `getCurrentBlockTimestamp`. The local test
/// chains place its runtime code at Multicall3's canonical address
/// 0xcA11bde05977b3631167028862bE2a173976CA11, where real chains have Multicall3.
contract Aggregate3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory results) {
        uint256 n = calls.length;
        results = new Result[](n);
        for (uint256 i = 0; i < n; i++) {
            (bool ok, bytes memory data) = calls[i].target.call(calls[i].callData);
            if (!ok && !calls[i].allowFailure) {
                revert("Aggregate3: call failed");
            }
            results[i] = Result(ok, data);
        }
    }

    function getBlockNumber() external view returns (uint256) {
        return block.number;
    }

    function getCurrentBlockTimestamp() external view returns (uint256) {
        return block.timestamp;
    }
}
