// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title BackedAutoFeeToken
 * @notice TEST DOUBLE ONLY (xstock-audit test suite) — not for production.
 *
 * Modelled on `BackedAutoFeeTokenImplementation` (+ its base `BackedTokenImplementation`)
 * from github.com/backed-fi/backed-token-contract (contracts/, commit 35859e8c, MIT,
 * Copyright (c) 2021-2024 Backed Finance AG), the implementation behind xStocks.
 *
 * KEPT (same names, signatures, arithmetic and revert strings as the original):
 *  - internal shares: `sharesOf`, `_totalShares`;
 *    `totalSupply() = _totalShares * currentMultiplier / 1e18`,
 *    `balanceOf(a) = sharesOf(a) * currentMultiplier / 1e18` where currentMultiplier comes
 *    from `getCurrentMultiplier()`.
 *  - multiplier state + views: `multiplier()`, `lastMultiplier()`, `newMultiplier()`,
 *    `newMultiplierActivationTime()`, `multiplierNonce()`, `lastMultiplierNonce()`,
 *    `newMultiplierNonce()`, `multiplierUpdates(uint256)`, `multiplierUpdatesLength()`.
 *  - management fee: `feePerPeriod()` (1e18 precision), `periodLength()` (seconds),
 *    `lastTimeFeeApplied()`; `getCurrentMultiplier()` decays the multiplier by
 *    `(1e18 - feePerPeriod) / 1e18` once per fully elapsed period (loop, like the original)
 *    and bumps the nonce by the number of periods; the `updateMultiplier` modifier persists
 *    that on every state-changing call.
 *  - `getSharesByUnderlyingAmount`, `getUnderlyingAmountByShares` (floor division).
 *  - mint/burn/transfer/transferFrom take UNDERLYING amounts converted to shares with the
 *    current multiplier (rounding down); `transferShares`, `transferSharesFrom`.
 *  - multiplier updates: `updateMultiplierValue(uint256 newMultiplier, uint256 oldMultiplier,
 *    uint256 activationTime)` and `updateMultiplierWithNonce(uint256 newMultiplier,
 *    uint256 oldMultiplier, uint256 nonce, uint256 activationTime)`. activationTime <=
 *    block.timestamp (e.g. 0) applies immediately (event `MultiplierUpdated`); a future
 *    activationTime schedules it (event `MultiplierScheduled(newMultiplier, activationTime)`)
 *    and must be < lastTimeFeeApplied + periodLength. `oldMultiplier` must equal the current
 *    multiplier. Overriding a pending schedule emits `MultiplierScheduleOverridden`.
 *  - fee admin: `updateFeePerPeriod`, `setLastTimeFeeApplied`, `setPeriodLength`.
 *  - roles: `owner` (Ownable), `minter`, `burner`, `pauser`, `multiplierUpdater` with their
 *    setters and events; `isPaused`/`setPause`; `burn` only from the burner itself or from
 *    the token contract address (as the original).
 *  - decimals fixed at 18 (the original uses the OpenZeppelin default).
 *
 * LEFT OUT / CHANGED:
 *  - no proxy / upgradeability / initializers: a constructor does what
 *    `initialize(name, symbol, periodLength, lastTimeFeeApplied, feePerPeriod)` does.
 *  - constructor conveniences: owner, minter, burner, pauser and multiplierUpdater are all
 *    set to the deployer (the original leaves the roles unset); `lastTimeFeeApplied_ == 0`
 *    means "block.timestamp" (the original rejects 0); `periodLength_ == 0` is rejected
 *    (it would make every read divide by zero).
 *  - no EIP-712 / permit / delegated transfers (`delegatedTransfer`, `delegatedTransferShares`,
 *    delegate whitelist / mode), no SanctionsList, no `terms`, no `VERSION`,
 *    no increase/decreaseAllowance, no `initialize_v2..v4`.
 */
contract BackedAutoFeeToken {
    struct MultiplierUpdate {
        uint256 previousMultiplier;
        uint256 newMultiplier;
        uint256 activationTime;
    }

    // ERC-20 metadata / allowances
    string public name;
    string public symbol;
    mapping(address => mapping(address => uint256)) private _allowances;

    // Roles
    address public owner;
    address public minter;
    address public burner;
    address public pauser;
    address public multiplierUpdater;
    bool public isPaused;

    // Management fee
    uint256 public lastTimeFeeApplied;
    uint256 public feePerPeriod; // in 1e18 precision
    uint256 public periodLength;

    // Multiplier (1e18 precision)
    uint256 public lastMultiplier;
    mapping(address => uint256) private _shares;
    uint256 internal _totalShares;
    uint256 public lastMultiplierNonce;
    uint256 public newMultiplierNonce;
    uint256 public newMultiplier;
    uint256 public newMultiplierActivationTime;
    MultiplierUpdate[] public multiplierUpdates;

    // ERC-20
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    // Ownable
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    // IBackedToken
    event NewMinter(address indexed newMinter);
    event NewBurner(address indexed newBurner);
    event NewPauser(address indexed newPauser);
    event PauseModeChange(bool pauseMode);
    // IBackedAutoFeeToken
    event NewMultiplierUpdater(address indexed newMultiplierUpdater);
    event TransferShares(address indexed from, address indexed to, uint256 value);
    event MultiplierUpdated(uint256 value);
    event MultiplierScheduled(uint256 newMultiplier, uint256 activationTime);
    event MultiplierScheduleOverridden(
        uint256 overriddenMultiplier,
        uint256 overriddenActivationTime,
        uint256 newMultiplier,
        uint256 newActivationTime
    );

    // ------------------------------------------------------------------ modifiers

    modifier onlyOwner() {
        require(msg.sender == owner, "Ownable: caller is not the owner");
        _;
    }

    modifier updateMultiplier() {
        (uint256 currentMultiplier, uint256 periodsPassed, uint256 currentMultiplierNonce) =
            getCurrentMultiplier();
        lastTimeFeeApplied = lastTimeFeeApplied + periodLength * periodsPassed;
        if (lastMultiplier != currentMultiplier) {
            _updateMultiplier(currentMultiplier, currentMultiplierNonce, 0);
        }
        _;
    }

    modifier onlyMultiplierUpdater() {
        require(msg.sender == multiplierUpdater, "BackedToken: Only multiplier updater");
        _;
    }

    modifier onlyUpdatedMultiplier(uint256 oldMultiplier) {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        require(currentMultiplier == oldMultiplier, "BackedToken: Multiplier changed in the meantime");
        _;
    }

    modifier onlyNewerMultiplierNonce(uint256 newMultiplierNonce_) {
        (,, uint256 currentMultiplierNonce) = getCurrentMultiplier();
        require(currentMultiplierNonce < newMultiplierNonce_, "BackedToken: Multiplier nonce is outdated.");
        _;
    }

    // ------------------------------------------------------------------ constructor

    constructor(
        string memory name_,
        string memory symbol_,
        uint256 periodLength_,
        uint256 lastTimeFeeApplied_,
        uint256 feePerPeriod_
    ) {
        require(periodLength_ != 0, "BackedAutoFeeToken: periodLength cannot be zero");
        name = name_;
        symbol = symbol_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        minter = msg.sender;
        emit NewMinter(msg.sender);
        burner = msg.sender;
        emit NewBurner(msg.sender);
        pauser = msg.sender;
        emit NewPauser(msg.sender);
        multiplierUpdater = msg.sender;
        emit NewMultiplierUpdater(msg.sender);

        // == original _initialize_auto_fee
        lastMultiplier = 1e18;
        lastMultiplierNonce = 0;
        newMultiplier = 1e18;
        newMultiplierNonce = 0;
        newMultiplierActivationTime = 0;
        periodLength = periodLength_;
        lastTimeFeeApplied = lastTimeFeeApplied_ == 0 ? block.timestamp : lastTimeFeeApplied_;
        feePerPeriod = feePerPeriod_;
        multiplierUpdates.push(MultiplierUpdate({previousMultiplier: 1e18, newMultiplier: 1e18, activationTime: 0}));
    }

    // ------------------------------------------------------------------ views

    function decimals() public pure returns (uint8) {
        return 18;
    }

    function multiplier() external view returns (uint256) {
        if (block.timestamp >= newMultiplierActivationTime) {
            return newMultiplier;
        }
        return lastMultiplier;
    }

    function multiplierNonce() external view returns (uint256) {
        if (block.timestamp >= newMultiplierActivationTime) {
            return newMultiplierNonce;
        }
        return lastMultiplierNonce;
    }

    function totalSupply() public view returns (uint256) {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        return _getUnderlyingAmountByShares(_totalShares, currentMultiplier);
    }

    function balanceOf(address account) public view returns (uint256) {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        return _getUnderlyingAmountByShares(sharesOf(account), currentMultiplier);
    }

    function allowance(address owner_, address spender) public view returns (uint256) {
        return _allowances[owner_][spender];
    }

    function getCurrentMultiplier()
        public
        view
        returns (uint256 currentMultiplier, uint256 periodsPassed, uint256 currentMultiplierNonce)
    {
        if (block.timestamp < newMultiplierActivationTime) {
            return (lastMultiplier, 0, lastMultiplierNonce);
        }
        periodsPassed = (block.timestamp - lastTimeFeeApplied) / periodLength;
        currentMultiplier = newMultiplier;
        currentMultiplierNonce = newMultiplierNonce;
        if (feePerPeriod > 0) {
            for (uint256 index = 0; index < periodsPassed; index++) {
                currentMultiplier = (currentMultiplier * (1e18 - feePerPeriod)) / 1e18;
            }
            currentMultiplierNonce += periodsPassed;
        }
    }

    function sharesOf(address account) public view returns (uint256) {
        return _shares[account];
    }

    function getSharesByUnderlyingAmount(uint256 _underlyingAmount) external view returns (uint256) {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        return _getSharesByUnderlyingAmount(_underlyingAmount, currentMultiplier);
    }

    function getUnderlyingAmountByShares(uint256 _sharesAmount) external view returns (uint256) {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        return _getUnderlyingAmountByShares(_sharesAmount, currentMultiplier);
    }

    function multiplierUpdatesLength() external view returns (uint256) {
        return multiplierUpdates.length;
    }

    // ------------------------------------------------------------------ ERC-20

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spendAllowance(from, msg.sender, amount);
        _transfer(from, to, amount);
        return true;
    }

    function transferShares(address to, uint256 sharesAmount) external updateMultiplier returns (bool) {
        _transferShares(msg.sender, to, sharesAmount);
        return true;
    }

    function transferSharesFrom(address from, address to, uint256 sharesAmount)
        external
        updateMultiplier
        returns (bool)
    {
        uint256 amount = _getUnderlyingAmountByShares(sharesAmount, lastMultiplier);
        _spendAllowance(from, msg.sender, amount);
        _transferShares(from, to, sharesAmount, amount);
        return true;
    }

    // ------------------------------------------------------------------ BackedToken roles

    function mint(address account, uint256 amount) external {
        require(msg.sender == minter, "BackedToken: Only minter");
        _mint(account, amount);
    }

    function burn(address account, uint256 amount) external {
        require(msg.sender == burner, "BackedToken: Only burner");
        require(account == msg.sender || account == address(this), "BackedToken: Cannot burn account");
        _burn(account, amount);
    }

    function setPause(bool newPauseMode) external {
        require(msg.sender == pauser, "BackedToken: Only pauser");
        isPaused = newPauseMode;
        emit PauseModeChange(newPauseMode);
    }

    function setMinter(address newMinter) external onlyOwner {
        minter = newMinter;
        emit NewMinter(newMinter);
    }

    function setBurner(address newBurner) external onlyOwner {
        burner = newBurner;
        emit NewBurner(newBurner);
    }

    function setPauser(address newPauser) external onlyOwner {
        pauser = newPauser;
        emit NewPauser(newPauser);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "Ownable: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ fee / multiplier admin

    function updateFeePerPeriod(uint256 newFeePerPeriod) external onlyOwner updateMultiplier {
        require(newMultiplierActivationTime == 0, "Multiplier activation in progress");
        feePerPeriod = newFeePerPeriod;
    }

    function setMultiplierUpdater(address newMultiplierUpdater) external onlyOwner {
        multiplierUpdater = newMultiplierUpdater;
        emit NewMultiplierUpdater(newMultiplierUpdater);
    }

    function setLastTimeFeeApplied(uint256 newLastTimeFeeApplied) external onlyOwner updateMultiplier {
        require(newMultiplierActivationTime == 0, "Multiplier activation in progress");
        require(newLastTimeFeeApplied != 0, "Invalid last time fee applied");
        lastTimeFeeApplied = newLastTimeFeeApplied;
    }

    function setPeriodLength(uint256 newPeriodLength) external onlyOwner updateMultiplier {
        require(newMultiplierActivationTime == 0, "Multiplier activation in progress");
        periodLength = newPeriodLength;
    }

    function updateMultiplierValue(
        uint256 pendingNewMultiplier,
        uint256 oldMultiplier,
        uint256 pendingNewMultiplierActivationTime
    ) public onlyMultiplierUpdater updateMultiplier onlyUpdatedMultiplier(oldMultiplier) {
        _updateMultiplier(pendingNewMultiplier, lastMultiplierNonce + 1, pendingNewMultiplierActivationTime);
        _storeScheduledMultiplierUpdate(oldMultiplier, pendingNewMultiplier, pendingNewMultiplierActivationTime);
    }

    function updateMultiplierWithNonce(
        uint256 newMultiplier_,
        uint256 oldMultiplier,
        uint256 newMultiplierNonce_,
        uint256 pendingNewMultiplierActivationTime
    )
        external
        onlyMultiplierUpdater
        updateMultiplier
        onlyUpdatedMultiplier(oldMultiplier)
        onlyNewerMultiplierNonce(newMultiplierNonce_)
    {
        _updateMultiplier(newMultiplier_, newMultiplierNonce_, pendingNewMultiplierActivationTime);
        _storeScheduledMultiplierUpdate(oldMultiplier, newMultiplier_, pendingNewMultiplierActivationTime);
    }

    // ------------------------------------------------------------------ internals

    function _storeScheduledMultiplierUpdate(
        uint256 _previousMultiplierValue,
        uint256 _multiplierValue,
        uint256 _multiplierActivationTime
    ) internal {
        MultiplierUpdate memory entry = MultiplierUpdate({
            previousMultiplier: _previousMultiplierValue,
            newMultiplier: _multiplierValue,
            activationTime: _multiplierActivationTime > block.timestamp ? _multiplierActivationTime : block.timestamp
        });

        uint256 len = multiplierUpdates.length;
        if (len > 0 && multiplierUpdates[len - 1].activationTime > block.timestamp) {
            MultiplierUpdate memory overridden = multiplierUpdates[len - 1];
            multiplierUpdates[len - 1] = entry;
            emit MultiplierScheduleOverridden(
                overridden.newMultiplier, overridden.activationTime, entry.newMultiplier, entry.activationTime
            );
        } else {
            multiplierUpdates.push(entry);
        }
    }

    function _getSharesByUnderlyingAmount(uint256 _underlyingAmount, uint256 _multiplier)
        internal
        pure
        returns (uint256)
    {
        return (_underlyingAmount * 1e18) / _multiplier;
    }

    function _getUnderlyingAmountByShares(uint256 _sharesAmount, uint256 _multiplier)
        internal
        pure
        returns (uint256)
    {
        return (_sharesAmount * _multiplier) / 1e18;
    }

    function _approve(address owner_, address spender, uint256 amount) internal {
        require(owner_ != address(0), "ERC20: approve from the zero address");
        require(spender != address(0), "ERC20: approve to the zero address");
        _allowances[owner_][spender] = amount;
        emit Approval(owner_, spender, amount);
    }

    function _spendAllowance(address owner_, address spender, uint256 amount) internal {
        uint256 currentAllowance = allowance(owner_, spender);
        if (currentAllowance != type(uint256).max) {
            require(currentAllowance >= amount, "ERC20: insufficient allowance");
            unchecked {
                _approve(owner_, spender, currentAllowance - amount);
            }
        }
    }

    function _transfer(address from, address to, uint256 amount) internal {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        uint256 _sharesAmount = _getSharesByUnderlyingAmount(amount, currentMultiplier);
        _transferShares(from, to, _sharesAmount, amount);
    }

    function _transferShares(address from, address to, uint256 sharesAmount) internal {
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        uint256 amount = _getUnderlyingAmountByShares(sharesAmount, currentMultiplier);
        _transferShares(from, to, sharesAmount, amount);
    }

    function _transferShares(address from, address to, uint256 sharesAmount, uint256 tokenAmount) internal {
        require(from != address(0), "ERC20: transfer from the zero address");
        require(to != address(0), "ERC20: transfer to the zero address");

        _beforeTokenTransfer(from, to, tokenAmount);

        uint256 currentSenderShares = _shares[from];
        require(currentSenderShares >= sharesAmount, "ERC20: transfer amount exceeds balance");

        unchecked {
            _shares[from] = currentSenderShares - (sharesAmount);
        }
        _shares[to] = _shares[to] + (sharesAmount);

        emit Transfer(from, to, tokenAmount);
        emit TransferShares(from, to, sharesAmount);
    }

    function _mint(address account, uint256 amount) internal {
        require(account != address(0), "ERC20: mint to the zero address");

        _beforeTokenTransfer(address(0), account, amount);
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        uint256 sharesAmount = _getSharesByUnderlyingAmount(amount, currentMultiplier);

        _totalShares += sharesAmount;
        _shares[account] += sharesAmount;
        emit Transfer(address(0), account, amount);
        emit TransferShares(address(0), account, sharesAmount);
    }

    function _burn(address account, uint256 amount) internal {
        require(account != address(0), "ERC20: burn from the zero address");

        _beforeTokenTransfer(account, address(0), amount);
        (uint256 currentMultiplier,,) = getCurrentMultiplier();
        uint256 sharesAmount = _getSharesByUnderlyingAmount(amount, currentMultiplier);

        uint256 accountBalance = _shares[account];
        require(accountBalance >= sharesAmount, "ERC20: burn amount exceeds balance");
        unchecked {
            _shares[account] = accountBalance - sharesAmount;
        }
        _totalShares -= sharesAmount;

        emit Transfer(account, address(0), amount);
        emit TransferShares(account, address(0), sharesAmount);
    }

    function _updateMultiplier(
        uint256 pendingNewMultiplier,
        uint256 pendingNewMultiplierNonce,
        uint256 pendingNewMultiplierActivationTime
    ) internal {
        require(pendingNewMultiplier != 0, "BackedToken: Multiplier cannot be zero");
        require(
            pendingNewMultiplierActivationTime < lastTimeFeeApplied + periodLength,
            "BackedToken: Activation time needs to be before next period"
        );

        newMultiplier = pendingNewMultiplier;
        newMultiplierNonce = pendingNewMultiplierNonce;

        if (pendingNewMultiplierActivationTime > block.timestamp) {
            newMultiplierActivationTime = pendingNewMultiplierActivationTime;
            emit MultiplierScheduled(pendingNewMultiplier, pendingNewMultiplierActivationTime);
        } else {
            newMultiplierActivationTime = 0;
            lastMultiplier = pendingNewMultiplier;
            lastMultiplierNonce = pendingNewMultiplierNonce;
            emit MultiplierUpdated(pendingNewMultiplier);
        }
    }

    // Original: BackedTokenImplementation._beforeTokenTransfer (pause check; sanctions check
    // omitted) wrapped in the auto-fee `updateMultiplier` modifier.
    function _beforeTokenTransfer(address, address, uint256) internal updateMultiplier {
        require(!isPaused, "BackedToken: token transfer while paused");
    }
}
