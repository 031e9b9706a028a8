// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/**
 * @title MockAggregator
 * @notice TEST DOUBLE ONLY (xstock-audit test suite) — not for production.
 *
 * A Chainlink-style aggregator with the subset of AggregatorV3Interface the auditor reads
 * (`decimals()`, `description()`, `latestRoundData()`), whose round is set explicitly by
 * its owner: answer, roundId, answeredInRound, startedAt and updatedAt are stored as given,
 * so that tests can make stale, incomplete, zero and negative rounds. Nothing is checked.
 *
 * No fallback and no receive function: any other selector reverts with empty data.
 */
contract MockAggregator {
    uint8 public immutable decimals;
    string public description;
    address public owner;

    uint80 private _roundId;
    int256 private _answer;
    uint256 private _startedAt;
    uint256 private _updatedAt;
    uint80 private _answeredInRound;

    event RoundSet(uint80 indexed roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound);

    modifier onlyOwner() {
        require(msg.sender == owner, "MockAggregator: caller is not the owner");
        _;
    }

    constructor(uint8 decimals_, string memory description_) {
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
    }

    /// @notice Set the latest round exactly as given (startedAt = updatedAt).
    function setRound(
        uint80 roundId_,
        int256 answer_,
        uint256 updatedAt_,
        uint80 answeredInRound_
    ) external onlyOwner {
        _roundId = roundId_;
        _answer = answer_;
        _startedAt = updatedAt_;
        _updatedAt = updatedAt_;
        _answeredInRound = answeredInRound_;
        emit RoundSet(roundId_, answer_, updatedAt_, answeredInRound_);
    }

    function version() external pure returns (uint256) {
        return 4;
    }

    function latestRoundData()
        external
        view
        returns (
            uint80 roundId,
            int256 answer,
            uint256 startedAt,
            uint256 updatedAt,
            uint80 answeredInRound
        )
    {
        return (_roundId, _answer, _startedAt, _updatedAt, _answeredInRound);
    }
}
