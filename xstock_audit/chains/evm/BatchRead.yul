// BatchRead: the EVM reader's batch of view calls, run as the init code of an eth_call
// without a `to` (a "deployless" call: nothing is deployed, nothing needs to be on chain).
// Compiled by `npm run build:contracts` into BatchRead.json, next to this file.
//
// Input, appended to this code: the groups, then their length as a 32-byte word.
//   group := target (20 bytes) | call count (1) | call...
//   call  := calldata length L (1) | calldata (L bytes) | result cap C (1)
// Output, returned as the "deployed code" (so at most 24,576 bytes, EIP-170):
//   0x00 (a first byte that is never 0xEF, EIP-3541) | block.number (8) | block.timestamp (8)
//   then per call: success (1) | return data size, at most 0xffff (2) | its first
//   min(size, C) bytes.
// A call that fails having used nearly all the gas it was given (out of gas, not a revert)
// makes the whole call revert without data: the reader splits the batch and asks again, so
// a starved call is never taken for a revert.
object "BatchRead" {
    code {
        let end := sub(codesize(), 32)
        codecopy(0, end, 32)
        let n := mload(0)
        codecopy(0, sub(end, n), n)
        let out := add(n, 32)
        mstore(out, 0)
        mstore(add(out, 1), shl(192, number()))
        mstore(add(out, 9), shl(192, timestamp()))
        let o := add(out, 17)
        let p := 0
        for {} lt(p, n) {} {
            let head := mload(p)
            let target := shr(96, head)
            let k := byte(20, head)
            p := add(p, 21)
            for {} k { k := sub(k, 1) } {
                let l := byte(0, mload(p))
                let g := gas()
                let ok := staticcall(g, target, add(p, 1), l, 0, 0)
                if iszero(ok) {
                    if lt(gas(), div(g, 32)) { revert(0, 0) }
                }
                p := add(p, add(l, 1))
                let cap := byte(0, mload(p))
                p := add(p, 1)
                let r := returndatasize()
                let c := r
                if gt(c, cap) { c := cap }
                let shown := r
                if gt(shown, 0xffff) { shown := 0xffff }
                mstore(o, or(shl(248, ok), shl(232, shown)))
                returndatacopy(add(o, 3), 0, c)
                o := add(o, add(3, c))
            }
        }
        return(out, sub(o, out))
    }
}
